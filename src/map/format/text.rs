//! Human-readable fields shared by the output formats: names, titles and
//! descriptions built from the event and the attribute, cut to a length.

use crate::map::indicator::Indicator;
use crate::misp::value::trim;

/// Cuts `s` to at most `max` characters, ending in `…` when cut.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return; // bytes >= chars: nothing to cut
    }
    if let Some((i, _)) = s.char_indices().nth(max.saturating_sub(1)) {
        if s[i..].chars().nth(1).is_some() {
            s.truncate(i);
            s.push('…');
        }
    }
}

/// `<event info>`, or `MISP <type>` without one.
pub fn name(ind: &Indicator, out: &mut String) {
    out.clear();
    match ind
        .event
        .info
        .as_deref()
        .map(trim)
        .filter(|s| !s.is_empty())
    {
        Some(info) => out.push_str(info),
        None => {
            out.push_str("MISP ");
            out.push_str(&ind.misp_type);
        }
    }
}

/// `MISP <type> from event: <info>; object file/sha256; port 443; comment: …`
/// (the event uuid is in the records' references; no quotes, so no JSON escaping).
pub fn describe(ind: &Indicator, out: &mut String) {
    // push_str, not write!: this runs for every record written.
    out.clear();
    out.push_str("MISP ");
    out.push_str(&ind.misp_type);
    if ind.part_type != ind.misp_type {
        out.push_str(" (");
        out.push_str(&ind.part_type);
        out.push_str(" part)");
    }
    match (&ind.event.info, &ind.event.uuid) {
        (Some(info), _) => {
            out.push_str(" from event: ");
            out.push_str(trim(info));
        }
        (None, Some(u)) => {
            out.push_str(" from event ");
            out.push_str(u);
        }
        (None, None) => {}
    }
    if let Some(o) = &ind.object {
        out.push_str("; object ");
        out.push_str(if o.name.is_empty() { "?" } else { &o.name });
        if let Some(r) = &o.relation {
            out.push('/');
            out.push_str(r);
        }
    }
    if let Some(p) = ind.port {
        out.push_str("; port ");
        out.push_str(itoa::Buffer::new().format(p));
    }
    if let Some(c) = &ind.comment {
        out.push_str("; comment: ");
        out.push_str(trim(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_characters() {
        let mut s = "ééééé".to_string();
        truncate(&mut s, 3);
        assert_eq!(s, "éé…");
        let mut s = "abc".to_string();
        truncate(&mut s, 3);
        assert_eq!(s, "abc");
        let mut s = "abcd".to_string();
        truncate(&mut s, 3);
        assert_eq!(s, "ab…");
        assert_eq!(s.chars().count(), 3);
    }
}
