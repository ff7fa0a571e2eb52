//! MISP's JSON formats, the ids derived from its records, and the text of its
//! values (trim, DNS names, refanging).

pub mod fields;
pub mod galaxy;
pub mod ids;
pub mod model;
pub mod refang;
mod scalar;
pub mod scan;
pub mod stream;
pub mod value;
