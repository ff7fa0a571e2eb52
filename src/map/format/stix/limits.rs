//! Length limits on the text of a STIX record (Sentinel truncates longer text).

/// Longest `name` written, in characters.
pub const NAME_MAX: usize = 256;
/// Longest `description` written, in characters.
pub const DESCRIPTION_MAX: usize = 1024;
