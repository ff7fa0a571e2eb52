//! The clusters that apply to each attribute (docs/design.md#context-objects):
//! its event's (`Galaxy[]` and galaxy tags, resolved once per event), then
//! its own (attribute-level `Galaxy[]` and galaxy tags, which add to the
//! event's), each cluster once.

use std::borrow::Cow;

use crate::map::context::galaxy::{parse_tag, Cluster};
use crate::misp::galaxy::{galaxies_in, Galaxy};
use crate::misp::model::{Attribute, Event, Tag};

/// How much attribute-level `Galaxy` text [`Resolver`] keeps resolved (it
/// starts again when full; a longer text is resolved and not kept):
/// docs/design.md#memory.
const OWN_GALAXIES_KEPT: usize = 256;
const OWN_GALAXY_BYTES_KEPT: usize = 1 << 20;

/// `--context`: how galaxy clusters and the publishing organisation reach the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ContextMode {
    /// Indicators only, as without context.
    None,
    /// Each record carries its context (ATT&CK references, readable labels,
    /// the format's own fields); STIX adds one `identity` per organisation.
    #[default]
    Inline,
    /// STIX only: `inline` plus `attack-pattern`, `threat-actor` and
    /// `relationship` objects.
    Objects,
}

/// The clusters of one attribute.
#[derive(Debug, Clone, Copy)]
pub struct Context<'c> {
    /// Its event's.
    pub event: &'c [Cluster],
    /// Its own, none of them among the event's.
    pub own: &'c [Cluster],
    /// Non-zero: the same clusters as every other attribute with this key
    /// (an event's attributes without clusters of their own).
    pub key: u64,
}

impl Context<'_> {
    /// No context (`--context none`, or nothing known).
    pub const NONE: Context<'static> = Context {
        event: &[],
        own: &[],
        key: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.event.is_empty() && self.own.is_empty()
    }

    /// The event's clusters, then the attribute's own.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> {
        self.event.iter().chain(self.own)
    }

    /// `labels` with the galaxy tags left out and the clusters' readable
    /// labels added after them, each once, into `out` (whose strings are reused).
    pub fn labels(&self, labels: &[String], out: &mut Vec<String>) {
        let mut n = 0;
        let put = |out: &mut Vec<String>, n: &mut usize, l: &str| {
            match out.get_mut(*n) {
                Some(o) => {
                    o.clear();
                    o.push_str(l);
                }
                None => out.push(l.to_owned()),
            }
            *n += 1;
        };
        // The labels are each once already (see the mapper).
        for l in labels.iter().filter(|l| parse_tag(l).is_none()) {
            put(out, &mut n, l);
        }
        for c in self.clusters() {
            if !out[..n].contains(&c.label) {
                put(out, &mut n, &c.label);
            }
        }
        out.truncate(n);
    }
}

/// Resolves the clusters of each attribute, those of its event once per event.
#[derive(Default)]
pub struct Resolver {
    /// The address of the event resolved last, while its line is being
    /// walked (0: none); and its key.
    event_at: usize,
    event_key: u64,
    next_key: u64,
    event: Vec<Cluster>,
    own: Vec<Cluster>,
    /// `own` holds all of the attribute's clusters, the event's included.
    own_whole: bool,
    own_galaxies: KeptGalaxies,
}

/// Attribute-level `Galaxy` texts and their clusters: attributes repeat the
/// same few, and reading one costs far more than looking it up. (Texts run
/// to kilobytes: they are hashed once a lookup, with foldhash, which took a
/// fifth of what std's SipHash did there.)
#[derive(Default)]
struct KeptGalaxies {
    /// Each text and where its clusters are in `clusters`.
    texts: foldhash::HashMap<Box<str>, usize>,
    clusters: Vec<Vec<Cluster>>,
    bytes: usize,
}

impl KeptGalaxies {
    /// The clusters of `text`, each as it is (none left out): read once and
    /// kept, within [`OWN_GALAXIES_KEPT`] and [`OWN_GALAXY_BYTES_KEPT`].
    fn clusters(&mut self, text: &str) -> Cow<'_, [Cluster]> {
        if text.len() > OWN_GALAXY_BYTES_KEPT / 4 {
            return Cow::Owned(clusters_of(&galaxies_in(text)).collect());
        }
        if let Some(&i) = self.texts.get(text) {
            return Cow::Borrowed(&self.clusters[i]);
        }
        if self.texts.len() >= OWN_GALAXIES_KEPT || self.bytes + text.len() > OWN_GALAXY_BYTES_KEPT
        {
            self.texts.clear();
            self.clusters.clear();
            self.bytes = 0;
        }
        self.bytes += text.len();
        self.texts.insert(text.into(), self.clusters.len());
        self.clusters
            .push(clusters_of(&galaxies_in(text)).collect());
        Cow::Borrowed(self.clusters.last().expect("just added"))
    }
}

impl Resolver {
    /// A new line: no event of the previous one is still in memory.
    pub fn new_line(&mut self) {
        self.event_at = 0;
    }

    /// The clusters of `attr`, in `event` (a full event, or the stub of a
    /// bare attribute).
    #[inline]
    pub fn context<'r>(
        &'r mut self,
        event: Option<&Event<'_>>,
        attr: &Attribute<'_>,
    ) -> Context<'r> {
        let at = event.map_or(0, |e| e as *const Event as usize);
        if at != self.event_at || at == 0 {
            self.new_event(event, at);
        }
        if !self.own.is_empty() || attr.galaxy.is_some() || !attr.tags.is_empty() {
            self.own_clusters(attr);
        }
        Context {
            event: if self.own_whole { &[] } else { &self.event },
            own: &self.own,
            key: if self.own.is_empty() && !self.event.is_empty() {
                self.event_key
            } else {
                0
            },
        }
    }
}

impl Resolver {
    /// The clusters of the event at address `at` (0: none known).
    #[inline(never)]
    fn new_event(&mut self, event: Option<&Event<'_>>, at: usize) {
        self.event.clear();
        if let Some(e) = event {
            add(&mut self.event, &[], &e.galaxies, &e.tags);
        }
        self.event_at = at;
        self.next_key += 1;
        self.event_key = self.next_key;
    }

    /// The clusters of `attr` not among its event's; or, when its `Galaxy`
    /// knows the uuid of an event cluster that came from a bare tag, all of
    /// its clusters (`own_whole`), that one replaced.
    #[inline(never)]
    fn own_clusters(&mut self, attr: &Attribute<'_>) {
        self.own.clear();
        self.own_whole = false;
        if let Some(text) = attr.galaxy {
            let clusters = self.own_galaxies.clusters(text);
            // MISP's attributes answer (includeGalaxy) gives an attribute its
            // event's clusters whole in its `Galaxy`, while its `Event` has
            // only their tags: the same cluster, with and without its uuid.
            let known = |e: &Cluster| {
                clusters
                    .iter()
                    .find(|c| !e.own_uuid && c.own_uuid && c.tag == e.tag)
            };
            if self.event.iter().any(|e| known(e).is_some()) {
                self.own_whole = true;
                for e in &self.event {
                    self.own.push(known(e).unwrap_or(e).clone());
                }
                add_clusters(&mut self.own, &[], clusters.iter().cloned());
                add_tags(&mut self.own, &[], &attr.tags);
                return;
            }
            add_clusters(&mut self.own, &self.event, clusters.iter().cloned());
        }
        add_tags(&mut self.own, &self.event, &attr.tags);
    }
}

/// The clusters of `galaxies`, each as it is (none left out).
fn clusters_of<'g>(galaxies: &'g [Galaxy<'_>]) -> impl Iterator<Item = Cluster> + 'g {
    galaxies.iter().flat_map(|g| {
        g.clusters
            .iter()
            .filter_map(|c| Cluster::from_misp(g.kind.as_deref(), c))
    })
}

/// Adds the clusters of `galaxies`, then of the galaxy tags among `tags`
/// (not local ones), to `out`, leaving out those already in `before` or `out`
/// (the same tag name or the same id).
fn add(out: &mut Vec<Cluster>, before: &[Cluster], galaxies: &[Galaxy<'_>], tags: &[Tag<'_>]) {
    add_clusters(out, before, clusters_of(galaxies));
    add_tags(out, before, tags);
}

/// Adds those of `clusters` not in `before` or `out` (the same tag name or
/// the same id) to `out`.
fn add_clusters(
    out: &mut Vec<Cluster>,
    before: &[Cluster],
    clusters: impl IntoIterator<Item = Cluster>,
) {
    for c in clusters {
        if !before.iter().chain(out.iter()).any(|k| k.same(&c)) {
            out.push(c);
        }
    }
}

/// The clusters of the galaxy tags among `tags` (not local ones) not in
/// `before` or `out` (the same tag name), added to `out`.
fn add_tags(out: &mut Vec<Cluster>, before: &[Cluster], tags: &[Tag<'_>]) {
    let known = |out: &[Cluster], tag: &str| before.iter().chain(out).any(|c| c.tag == tag);
    for t in tags {
        if t.local.unwrap_or(false) || parse_tag(&t.name).is_none() {
            continue;
        }
        let name = crate::misp::value::trim(&t.name);
        if known(out, name) {
            continue;
        }
        if let Some(c) = Cluster::from_tag(name) {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misp::model::{Line, LineKind};

    fn event(json: &str) -> Line<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn event_clusters_then_own_each_once() {
        let line = event(
            r#"{"Event":{"uuid":"e","Galaxy":[{"type":"mitre-attack-pattern","GalaxyCluster":[
            {"uuid":"a62a8db3-f23a-4d8f-afd6-9dbc77e7813b","value":"Phishing - T1566",
             "tag_name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""}]}],
            "Tag":[{"name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""},
                   {"name":"misp-galaxy:threat-actor=\"Sofacy\""},{"name":"tlp:green"},
                   {"name":"misp-galaxy:tool=\"Mimikatz\"","local":true}],
            "Attribute":[{"type":"domain","value":"a.example"},
              {"type":"domain","value":"b.example","Tag":[{"name":"misp-galaxy:threat-actor=\"Sofacy\""},
                {"name":"misp-galaxy:ransomware=\"LockBit\""}],
               "Galaxy":[{"type":"mitre-intrusion-set","GalaxyCluster":[{"uuid":"bef4c620-0787-42a8-a96d-b7eb6e85917c",
                 "value":"APT28 - G0007","meta":{"synonyms":["Sofacy","Fancy Bear"]}}]}]}]}}"#,
        );
        let LineKind::Event(e) = line.kind() else {
            panic!()
        };
        let mut r = Resolver::default();
        r.new_line();
        let first = r.context(Some(e), &e.attributes[0]);
        let labels: Vec<&str> = first.clusters().map(|c| c.label.as_str()).collect();
        // The Galaxy's cluster and its tag are one; the local tag is left out.
        assert_eq!(labels, ["attack-pattern:Phishing", "threat-actor:Sofacy"]);
        assert!(first.own.is_empty());
        let key = first.key;
        assert_ne!(key, 0);
        let second = r.context(Some(e), &e.attributes[1]);
        let own: Vec<&str> = second.own.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(own, ["threat-actor:APT28", "malware:LockBit"]);
        assert_eq!(second.own[0].aliases, ["Sofacy", "Fancy Bear"]);
        assert_eq!(second.key, 0);
        // The next attribute without clusters of its own shares the event's key.
        assert_eq!(r.context(Some(e), &e.attributes[0]).key, key);
        let mut out = vec!["old".to_string(); 5];
        let labels = [
            "tlp-unrelated".to_string(),
            "misp-galaxy:threat-actor=\"Sofacy\"".to_string(),
            "malware:LockBit".to_string(),
        ];
        r.context(Some(e), &e.attributes[1])
            .labels(&labels, &mut out);
        assert_eq!(
            out,
            [
                "tlp-unrelated",
                "malware:LockBit",
                "attack-pattern:Phishing",
                "threat-actor:Sofacy",
                "threat-actor:APT28"
            ]
        );
    }

    #[test]
    fn kept_galaxy_texts_resolve_as_read_anew() {
        let galaxy = r#"[{"type":"mitre-attack-pattern","GalaxyCluster":[
            {"uuid":"a62a8db3-f23a-4d8f-afd6-9dbc77e7813b","value":"Phishing - T1566"},
            {"uuid":"a62a8db3-f23a-4d8f-afd6-9dbc77e7813b","value":"Spearphishing - T1566",
             "tag_name":"misp-galaxy:mitre-attack-pattern=\"Spearphishing - T1566\""},
            {"value":"Valid Accounts - T1078"}]}]"#;
        let json = format!(
            r#"{{"Event":{{"uuid":"e","Galaxy":[{{"type":"mitre-attack-pattern","GalaxyCluster":[
            {{"value":"Phishing - T1566"}}]}}],
            "Attribute":[{{"type":"domain","value":"a.example","Galaxy":{galaxy}}},
              {{"type":"domain","value":"b.example","Galaxy":{galaxy}}},
              {{"type":"domain","value":"c.example"}},
              {{"type":"domain","value":"d.example","Galaxy":{galaxy}}}]}}}}"#
        );
        let line = event(&json);
        let LineKind::Event(e) = line.kind() else {
            panic!()
        };
        let labels = |c: Context<'_>| -> Vec<String> {
            c.clusters()
                .map(|c| format!("{} {}", c.label, c.uuid))
                .collect()
        };
        let mut kept = Resolver::default();
        kept.new_line();
        for a in &e.attributes {
            let mut anew = Resolver::default();
            anew.new_line();
            assert_eq!(
                labels(kept.context(Some(e), a)),
                labels(anew.context(Some(e), a))
            );
        }
        // The attribute's Phishing, with its uuid, stands for the event's,
        // which has none; the second cluster has that uuid too, so it is the
        // same object; the third is the attribute's own.
        let all = labels(kept.context(Some(e), &e.attributes[0]));
        let valid_accounts =
            Cluster::from_tag("misp-galaxy:mitre-attack-pattern=\"Valid Accounts - T1078\"")
                .unwrap()
                .uuid;
        assert_eq!(
            all,
            [
                "attack-pattern:Phishing a62a8db3-f23a-4d8f-afd6-9dbc77e7813b".to_string(),
                format!("attack-pattern:Valid Accounts {valid_accounts}")
            ]
        );
        // Without a `Galaxy` of its own, the event's Phishing as it is.
        let c = kept.context(Some(e), &e.attributes[2]);
        assert!(c.clusters().all(|c| !c.own_uuid && c.name == "Phishing"));
    }

    #[test]
    fn a_galaxy_with_the_uuid_stands_for_the_events_bare_tag() {
        // MISP's attributes answer with includeGalaxy: the event's tags in
        // the `Event` stub, its clusters whole in the attribute's `Galaxy`.
        let line: Line<'_> = serde_json::from_str(
            r#"{"Attribute":{"type":"domain","value":"a.example",
            "Event":{"uuid":"e","Tag":[{"name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""},
                {"name":"misp-galaxy:threat-actor=\"Sofacy\""}]},
            "Galaxy":[{"type":"mitre-attack-pattern","GalaxyCluster":[
              {"uuid":"a62a8db3-f23a-4d8f-afd6-9dbc77e7813b","value":"Phishing - T1566",
               "tag_name":"misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\""}]}]}}"#,
        )
        .unwrap();
        let LineKind::Attributes([a]) = line.kind() else {
            panic!()
        };
        let mut r = Resolver::default();
        r.new_line();
        let c = r.context(a.event.as_deref(), a);
        let got: Vec<(String, bool)> = c
            .clusters()
            .map(|c| (c.label.clone(), c.own_uuid))
            .collect();
        assert_eq!(
            got,
            [
                ("attack-pattern:Phishing".to_string(), true),
                ("threat-actor:Sofacy".to_string(), false)
            ]
        );
    }
}
