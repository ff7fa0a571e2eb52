//! MISP's JSON formats.

pub mod model;
pub mod scan;
pub mod stream;
pub mod value;
