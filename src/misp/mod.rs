//! MISP's JSON formats, and the text of its values (trim, DNS names, refanging).

pub mod fields;
pub mod galaxy;
pub mod model;
pub mod refang;
mod scalar;
pub mod scan;
pub mod stream;
pub mod value;
