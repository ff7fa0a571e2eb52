//! `ioc-map`: MISP events and attributes to indicator records.

pub mod context;
pub mod format;
pub mod indicator;
pub mod mapper;
pub mod policy;
pub mod run;
