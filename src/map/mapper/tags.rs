//! What tags mean to the mapping (docs/design.md#tlp-and-confidence): TLP,
//! confidence, kill-chain phases, and the rest as labels.

use smallvec::SmallVec;

use crate::map::indicator::Tlp;
use crate::misp::model::Tag;

/// What a tag means to the mapping.
enum TagMeaning<'t> {
    /// A `tlp:` tag (`None`: a level with no marking, such as `ex:chr`).
    Tlp(Option<Tlp>),
    /// `misp:confidence-level="…"` (`None`: cannot be evaluated).
    Confidence(Option<u8>),
    /// `kill-chain:<phase>`: also a label.
    KillChain(&'t str),
    Label,
}

fn meaning(name: &str) -> TagMeaning<'_> {
    // A byte search: `split_once` with a char sets up a searcher per tag.
    let Some(i) = name.bytes().position(|b| b == b':') else {
        return TagMeaning::Label;
    };
    let (ns, rest) = (&name[..i], &name[i + 1..]);
    if ns.eq_ignore_ascii_case("tlp") {
        return TagMeaning::Tlp(Tlp::parse(rest));
    }
    if ns.eq_ignore_ascii_case("misp") {
        if let Some(v) = rest.strip_prefix("confidence-level=") {
            return TagMeaning::Confidence(match v.trim_matches('"') {
                "completely-confident" => Some(100),
                "usually-confident" => Some(75),
                "fairly-confident" => Some(50),
                "rarely-confident" => Some(25),
                "unconfident" => Some(0),
                _ => None,
            });
        }
    }
    if ns.eq_ignore_ascii_case("kill-chain") {
        return TagMeaning::KillChain(rest.trim_matches('"'));
    }
    TagMeaning::Label
}

/// TLP, confidence, labels and kill-chain phases found in one level of tags.
#[derive(Default)]
pub(super) struct TagSummary<'t> {
    pub(super) tlp: Option<Tlp>,
    pub(super) confidence: Option<u8>,
    /// A confidence tag that cannot be evaluated was seen.
    pub(super) confidence_tagged: bool,
    /// Inline: tagged attributes have a tag or two, and this runs for each.
    pub(super) labels: SmallVec<[&'t str; 4]>,
    pub(super) kill_chain: SmallVec<[&'t str; 2]>,
}

impl<'t> TagSummary<'t> {
    pub(super) fn add(&mut self, tag: &'t Tag<'_>) {
        let name: &'t str = tag.name.as_ref();
        match meaning(name) {
            // Several TLP tags on one level: the most restrictive wins.
            TagMeaning::Tlp(t) => self.tlp = self.tlp.max(t),
            TagMeaning::Confidence(c) => {
                self.confidence_tagged = true;
                if let Some(c) = c {
                    self.confidence = Some(self.confidence.map_or(c, |x| x.min(c)));
                }
            }
            TagMeaning::KillChain(p) => {
                self.kill_chain.push(p);
                self.push_label(tag, name);
            }
            TagMeaning::Label => self.push_label(tag, name),
        }
    }

    #[inline]
    fn push_label(&mut self, tag: &Tag<'_>, name: &'t str) {
        if !tag.local.unwrap_or(false) && !name.is_empty() && !self.labels.contains(&name) {
            self.labels.push(name);
        }
    }
}
