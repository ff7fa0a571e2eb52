//! STIX 2.1 `indicator` objects for Sentinel's STIX objects upload API
//! (docs/design.md#sentinel-stix-upload, #mapping): one comparison per
//! pattern, STIX pattern escaping (docs/design.md#mapping), TLP 1.0 markings
//! (docs/design.md#tlp-and-confidence), millisecond UTC times.
//!
//! - `writer`: the records and their writer, [`StixWriter`].
//! - `pattern`: the pattern of an indicator and its string literals.
//! - `memo`: the JSON text of record parts that repeat from one record to the next.
//! - `times`: the text of a record's times, cached.
//! - `limits`: the longest `name` and `description` written.
//! - `objects`: the identity, attack-pattern, threat-actor and relationship objects around them.

mod limits;
mod memo;
mod objects;
mod pattern;
mod relationship_ids;
mod times;
mod writer;

pub use limits::{DESCRIPTION_MAX, NAME_MAX};
pub use objects::{relationship_uuid, SHARED_TIME};
pub use pattern::{pattern, push_quoted};
pub use writer::{tlp_marking, StixOptions, StixWriter};
