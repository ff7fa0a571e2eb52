//! Every attribute of a MISP line, with the event and object it sits in: the
//! one walk over the shapes a line takes (docs/design.md#misp-json) — a bare
//! attribute with its stubs, `{"Attribute":…}`, an event with its objects,
//! `{"response":…}` — that `ioc-map`, the tests and the fuzz target share.

use crate::map::mapper::context::{EventFacts, ObjectInfo};
use crate::misp::model::{Attribute, Event, Line, LineKind};

/// What the walk of a line finds, in the order of the line.
pub enum Found<'w, 'e> {
    /// An attribute, with the object it is in (if any) and its event: the
    /// facts the mapping needs, and the event as read (`source`: a full event,
    /// a bare attribute's stub, or none), whose galaxies are context.
    Attribute {
        attr: &'w Attribute<'w>,
        object: Option<ObjectInfo<'w>>,
        event: &'w EventFacts<'e>,
        source: Option<&'w Event<'w>>,
    },
    /// A line that is neither an event nor attributes; `nested` when it is
    /// one of the lines of a `response`.
    Unknown { nested: bool },
}

/// Walks `line`, giving `found` every attribute (an event's own first, then
/// its objects'; each event's facts computed once) and every unknown line;
/// stops at the first error `found` returns.
#[inline]
pub fn walk<E>(
    line: &Line<'_>,
    found: &mut impl FnMut(Found<'_, '_>) -> Result<(), E>,
) -> Result<(), E> {
    walk_in(line, false, found)
}

fn walk_in<E>(
    line: &Line<'_>,
    nested: bool,
    found: &mut impl FnMut(Found<'_, '_>) -> Result<(), E>,
) -> Result<(), E> {
    match line.kind() {
        LineKind::Attribute(a) => bare(a, None, found),
        LineKind::Attributes(list) => {
            for a in list {
                bare(a, line.event.as_deref(), found)?;
            }
            Ok(())
        }
        LineKind::Event(e) => {
            let event = EventFacts::new(Some(e), None);
            for attr in &e.attributes {
                found(Found::Attribute {
                    attr,
                    object: None,
                    event: &event,
                    source: Some(e),
                })?;
            }
            for o in &e.objects {
                let object = Some(ObjectInfo::of_object(o));
                for attr in &o.attributes {
                    found(Found::Attribute {
                        attr,
                        object,
                        event: &event,
                        source: Some(e),
                    })?;
                }
            }
            Ok(())
        }
        LineKind::Response(lines) => {
            for l in lines {
                walk_in(l, true, found)?;
            }
            Ok(())
        }
        LineKind::Unknown => found(Found::Unknown { nested }),
    }
}

/// A bare attribute, with its own `Event` stub (or its line's) and `Object`
/// stub as context.
fn bare<E>(
    attr: &Attribute<'_>,
    line_event: Option<&Event<'_>>,
    found: &mut impl FnMut(Found<'_, '_>) -> Result<(), E>,
) -> Result<(), E> {
    let source = attr.event.as_deref().or(line_event);
    let event = EventFacts::bare(source, attr.event_uuid.as_deref());
    found(Found::Attribute {
        attr,
        object: attr.object.as_deref().map(ObjectInfo::of_stub),
        event: &event,
        source,
    })
}

/// [`walk`] for a caller that wants only the attributes.
pub fn for_each_attribute(
    line: &Line<'_>,
    mut f: impl FnMut(&Attribute<'_>, Option<ObjectInfo<'_>>, &EventFacts<'_>),
) {
    let all = walk(line, &mut |found| {
        if let Found::Attribute {
            attr,
            object,
            event,
            ..
        } = found
        {
            f(attr, object, event);
        }
        Ok::<(), std::convert::Infallible>(())
    });
    match all {
        Ok(()) => {}
        Err(never) => match never {},
    }
}
