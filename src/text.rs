//! Human-readable fields shared by the output formats: names, titles and
//! descriptions built from the event and the attribute, cut to a length.

use std::fmt::Write;

use crate::indicator::Indicator;

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
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(info) => out.push_str(info),
        None => {
            let _ = write!(out, "MISP {}", ind.misp_type);
        }
    }
}

/// `MISP <type> from event: <info>; object file/sha256; port 443; comment: …`
/// (the event uuid is in the records' references; no quotes, so no JSON escaping).
pub fn describe(ind: &Indicator, out: &mut String) {
    out.clear();
    let _ = write!(out, "MISP {}", ind.misp_type);
    if ind.part_type != ind.misp_type {
        let _ = write!(out, " ({} part)", ind.part_type);
    }
    match (&ind.event.info, &ind.event.uuid) {
        (Some(info), _) => {
            out.push_str(" from event: ");
            out.push_str(info.trim());
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
            let _ = write!(out, "/{r}");
        }
    }
    if let Some(p) = ind.port {
        let _ = write!(out, "; port {p}");
    }
    if let Some(c) = &ind.comment {
        let _ = write!(out, "; comment: {}", c.trim());
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
