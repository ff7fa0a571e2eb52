//! Streaming reader of MISP JSON documents: `{"response":[…]}` (events),
//! `{"response":{"Attribute":[…]}}` (attributes) and feed event files. Each
//! element of the array is handed to a callback as soon as its closing
//! bracket has arrived, so memory is one element, whatever the size of the
//! response. Elements are passed on byte for byte (field order, numbers and
//! strings untouched), only compacted to one line when the server or file
//! put whitespace between tokens. A document that ends early is an error,
//! never a short result.

/// The document shapes and the one entry point, [`for_each_element`].
mod document;
/// Why a document could not be read to its end.
mod error;
/// The buffered reader that frames whole JSON values, one at a time.
mod reader;

pub use document::{for_each_element, Shape};
pub use error::StreamError;

#[cfg(test)]
mod tests;
