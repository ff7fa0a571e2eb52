//! Threat context (docs/design.md#context-objects): the galaxy clusters that
//! apply to each attribute (ATT&CK techniques, actors, malware, tools), as the
//! output formats need them.
//!
//! - `clusters`: `--context`, the clusters of each attribute ([`Context`]), the event's resolved once.
//! - `galaxy`: one cluster, from a `GalaxyCluster` or a bare `misp-galaxy:` tag, its class and ids.
//! - `attack`: ATT&CK ids, their pages, the `- T1566` suffix of a value.

pub mod attack;
mod clusters;
pub mod galaxy;

pub use clusters::{Context, ContextMode, Resolver};
pub use galaxy::{Class, Cluster};
