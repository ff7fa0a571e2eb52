//! One MISP attribute → zero or more [`Indicator`](crate::map::indicator::Indicator)s (docs/design.md#mapping,
//! #ids-and-keys, #values, #time, #retirement), or the one reason it gives
//! none. Composites are split into parts, values normalised and filtered,
//! TLP, confidence, labels and times decided.
//!
//! Checks run in this order, and the first that fails is the attribute's
//! reason: malformed, not an indicator type, `--types`/`--exclude-types`,
//! deleted / `to_ids` false, TLP above `--tlp-max`, below `--min-confidence`,
//! then per part: invalid value, private, allowlisted, warninglist, expired.
//!
//! Indicators are written into reusable slots ([`Parts`]) so that mapping
//! millions of attributes does not allocate for each.

mod attribute;
mod categories;
mod context;
pub mod network;
pub mod normalize;
mod options;
mod parts;
mod tags;
mod types;
mod walk;

pub use attribute::Mapper;
pub use context::{EventFacts, ObjectInfo};
pub use options::MapOptions;
pub use parts::Parts;
pub use types::{default_to_ids, mapped_types};
pub use walk::{for_each_attribute, walk, Found};

#[cfg(test)]
mod tests;
