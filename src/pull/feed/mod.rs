//! `misp-pull` from feeds, without a server (docs/design.md#misp-feeds): a
//! MISP-format feed (events passed on as they are), or a CSV or freetext
//! feed (values typed like MISP's feed parser does, written as attributes).

/// CSV feeds: `--delimiter` and the cells of the chosen columns.
pub mod csv;
/// Freetext feeds: cutting text into tokens and typing them.
pub mod freetext;
/// MISP-format feeds: the manifest, its filters, the event files.
pub mod misp;
/// CSV and freetext feeds: typed values out as attributes with derived uuids.
pub mod values;

pub use csv::{csv_cells, parse_delimiter};
pub use misp::{manifest_entry, run_misp_feed, FeedConfig, Location, ManifestEntry};
pub use values::{run_text_feed, TextFeedConfig, TextKind};
