//! The document shapes misp-pull reads and how each holds its elements: the
//! `response` key of a restSearch answer, an attribute list under it, or a
//! feed event file in any of its three forms.

use std::io::Read;

use crate::misp::stream::error::{SResult, StreamError};
use crate::misp::stream::reader::Framer;

/// The document shapes the puller reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"response":[{"Event":…},…]}` from `/events/restSearch`.
    Events,
    /// `{"response":{"Attribute":[…]}}` from `/attributes/restSearch`.
    Attributes,
    /// A feed event file: `{"Event":…}`, a one-element list, or a
    /// `{"response":[…]}`-wrapped list (MISP's feed reader takes all three).
    FeedEvent,
}

/// Reads a document of `shape`, calling `f` with each element (one event, or
/// one attribute), and returns how many there were.
pub fn for_each_element<R: Read>(
    reader: R,
    shape: Shape,
    max_element: usize,
    mut f: impl FnMut(&[u8]) -> crate::Result<()>,
) -> std::result::Result<u64, StreamError> {
    let mut fr = Framer::new(reader, max_element);
    let f: &mut dyn FnMut(&[u8]) -> crate::Result<()> = &mut f;
    let n = match (fr.peek()?, shape) {
        (None, _) => return Err(fr.cut()),
        (Some(b'['), Shape::FeedEvent) => fr.array(f)?,
        (Some(b'{'), _) => {
            let first = fr.first_key()?;
            if first.as_deref() != Some("response") {
                if shape == Shape::FeedEvent {
                    fr.element(f)?;
                    fr.end()?;
                    return Ok(1);
                }
                let what = fr.excerpt();
                return Err(fr.syntax(format!(
                    "not a MISP restSearch response (no \"response\" key): {what}"
                )));
            }
            fr.object(|fr, key| {
                if key == "response" {
                    response(fr, shape, f)
                } else {
                    fr.skip().map(|()| 0)
                }
            })?
        }
        (Some(_), _) => {
            let what = fr.excerpt();
            return Err(fr.syntax(format!("not a MISP JSON document: {what}")));
        }
    };
    fr.end()?;
    Ok(n)
}

/// The value of the `response` key.
fn response<R: Read>(
    fr: &mut Framer<R>,
    shape: Shape,
    f: &mut dyn FnMut(&[u8]) -> crate::Result<()>,
) -> SResult<u64> {
    match (fr.peek()?, shape) {
        (Some(b'['), Shape::Events | Shape::FeedEvent) => fr.array(f),
        (Some(b'{'), Shape::Attributes) => fr.object(|fr, key| {
            if key == "Attribute" {
                fr.array(f)
            } else {
                fr.skip().map(|()| 0)
            }
        }),
        // An empty attributes search answered as an empty list by some versions.
        (Some(b'['), Shape::Attributes) => {
            let n = fr.array(&mut |_: &[u8]| {
                Err(crate::Error::Other(
                    "attributes response holds a list, expected {\"Attribute\":[…]}".into(),
                ))
            })?;
            Ok(n)
        }
        (None, _) => Err(fr.cut()),
        (Some(_), _) => {
            let what = fr.excerpt();
            Err(fr.syntax(format!("unexpected \"response\" value: {what}")))
        }
    }
}
