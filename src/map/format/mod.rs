//! Output formats of `ioc-map`.

pub mod csv;
pub mod defender;
pub mod select;
pub mod stix;
pub mod text;
pub mod tiindicator;
pub mod writer;
