//! restSearch filters from command-line flags (docs/design.md#misp-rest-api): MISP's
//! value syntax passed through (`!` negation, several values, `%` wildcards),
//! times checked and turned into epoch seconds here, because MISP silently
//! matches nothing for a time it cannot parse.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The filters of one pull, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub tags: Vec<String>,
    pub types: Vec<String>,
    pub categories: Vec<String>,
    pub orgs: Vec<String>,
    pub event_ids: Vec<String>,
    pub uuids: Vec<String>,
    pub to_ids: Option<bool>,
    /// Lower and upper time bound, epoch seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Bounds apply to `publish_timestamp` instead of `timestamp`.
    pub by_publish_time: bool,
    pub include_unpublished: bool,
    pub include_deleted: bool,
    pub warninglists: bool,
    pub include_event_tags: bool,
    pub include_context: bool,
    /// `--filter KEY=JSON`, in order.
    pub extra: Vec<(String, Value)>,
    /// `--body FILE`: the base the flags are added to.
    pub body: Option<Map<String, Value>>,
}

/// The flags that mean nothing for a feed (there is no server to ask).
pub fn check_feed_filters(f: &Filters, feed_flag: &str) -> Result<()> {
    let mut bad = Vec::new();
    if !f.types.is_empty() {
        bad.push("--type");
    }
    if !f.categories.is_empty() {
        bad.push("--category");
    }
    if !f.event_ids.is_empty() {
        bad.push("--event-id");
    }
    if f.to_ids.is_some() {
        bad.push("--to-ids");
    }
    if f.include_deleted {
        bad.push("--include-deleted");
    }
    if f.warninglists {
        bad.push("--warninglists");
    }
    if f.include_event_tags || f.include_context {
        bad.push("--include-event-tags/--include-context");
    }
    if !f.extra.is_empty() || f.body.is_some() {
        bad.push("--filter/--body");
    }
    if f.by_publish_time {
        bad.push("--by-publish-time");
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{} cannot be used with {feed_flag}: a feed is filtered by its manifest (--since, --until, --tags, --org, --uuid)",
            bad.join(", ")
        )))
    }
}

/// One value or a list, as MISP takes it.
fn values(v: &[String]) -> Option<Value> {
    match v {
        [] => None,
        [one] => Some(Value::String(one.clone())),
        many => Some(json!(many)),
    }
}

/// A time bound as MISP takes it: a single value is `>=`, a pair is a range.
pub fn time_value(since: Option<i64>, until: Option<i64>) -> Option<Value> {
    match (since, until) {
        (None, None) => None,
        (Some(s), None) => Some(json!(s)),
        (s, Some(u)) => Some(json!([s.unwrap_or(0), u])),
    }
}

impl Filters {
    /// The restSearch body these filters make (without paging, ordering and
    /// the state's lower bound).
    pub fn body(&self) -> Map<String, Value> {
        let mut m = self.body.clone().unwrap_or_default();
        m.insert("returnFormat".into(), json!("json"));
        if !self.include_unpublished {
            m.insert("published".into(), json!(1));
        }
        let lists = [
            ("tags", &self.tags),
            ("type", &self.types),
            ("category", &self.categories),
            ("org", &self.orgs),
            ("eventid", &self.event_ids),
            ("uuid", &self.uuids),
        ];
        for (key, v) in lists {
            if let Some(v) = values(v) {
                m.insert(key.into(), v);
            }
        }
        if let Some(t) = self.to_ids {
            m.insert("to_ids".into(), json!(t as u8));
        }
        if let Some(t) = time_value(self.since, self.until) {
            m.insert(self.time_field().into(), t);
        }
        if self.include_deleted {
            m.insert("deleted".into(), json!([0, 1]));
        }
        if self.warninglists {
            m.insert("enforceWarninglist".into(), json!(1));
        }
        if self.include_event_tags {
            m.insert("includeEventTags".into(), json!(1));
        }
        if self.include_context {
            m.insert("includeContext".into(), json!(1));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    /// The field `--since`/`--until` apply to.
    pub fn time_field(&self) -> &'static str {
        if self.by_publish_time {
            "publish_timestamp"
        } else {
            "timestamp"
        }
    }

    /// Checks what the flags cannot: a `--body`/`--filter` that asks for
    /// another output format, or sets what the puller manages itself.
    pub fn check(&self) -> Result<()> {
        let body = self.body();
        if let Some(f) = body.get("returnFormat") {
            if f != "json" {
                return Err(Error::usage(format!(
                    "returnFormat {f} is not supported: misp-pull reads MISP's JSON"
                )));
            }
        }
        for key in ["page", "limit"] {
            if body.contains_key(key) {
                return Err(Error::usage(format!(
                    "{key:?} in --body/--filter: misp-pull pages by itself (see --page-size)"
                )));
            }
        }
        Ok(())
    }
}

/// Parses `--filter KEY=JSON` (a bare word that is not JSON is taken as a string).
pub fn parse_filter(s: &str) -> Result<(String, Value)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::usage(format!("--filter {s:?}: expected KEY=JSON")))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(Error::usage(format!("--filter {s:?}: empty key")));
    }
    let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), v))
}

/// Reads `--body FILE`: a JSON object, optionally wrapped as `{"request":{…}}`.
pub fn read_body(path: &std::path::Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("{}: not JSON: {e}", path.display())))?;
    let v = match v {
        Value::Object(mut m) if m.len() == 1 && m.contains_key("request") => {
            m.remove("request").expect("present")
        }
        v => v,
    };
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::usage(format!(
            "{}: expected a JSON object of restSearch filters",
            path.display()
        ))),
    }
}

/// Parses a time flag: epoch seconds, an ISO date or time, or a duration
/// before now (`7d`, `12h`, `30m`).
pub fn parse_time(s: &str, now: &Timestamp) -> Result<i64> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    if let Some(ts) = crate::time::parse_misp_time(t) {
        return Ok(ts.timestamp());
    }
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(now.timestamp() - d.as_secs() as i64);
    }
    Err(Error::usage(format!(
        "{s:?} is not a time: use epoch seconds, an ISO date (2026-03-01), or a duration such as 7d, 12h, 30m"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_misp_values() {
        let f = Filters {
            tags: vec!["tlp:%".into(), "!tlp:red".into()],
            types: vec!["ip-dst".into()],
            to_ids: Some(true),
            since: Some(100),
            until: Some(200),
            by_publish_time: true,
            include_deleted: true,
            extra: vec![parse_filter("threat_level_id=[1,2]").unwrap()],
            ..Filters::default()
        };
        let b = Value::Object(f.body());
        assert_eq!(
            b,
            json!({"returnFormat":"json","published":1,"tags":["tlp:%","!tlp:red"],"type":"ip-dst",
                "to_ids":1,"publish_timestamp":[100,200],"deleted":[0,1],"threat_level_id":[1,2]})
        );
        let f = Filters {
            include_unpublished: true,
            since: Some(5),
            ..Filters::default()
        };
        assert_eq!(
            Value::Object(f.body()),
            json!({"returnFormat":"json","timestamp":5})
        );
    }

    #[test]
    fn times() {
        let now = crate::time::parse_rfc3339("2026-03-08T00:00:00Z").unwrap();
        assert_eq!(parse_time("1772445300", &now).unwrap(), 1772445300);
        assert_eq!(parse_time("7d", &now).unwrap(), now.timestamp() - 7 * 86400);
        assert_eq!(
            parse_time("2026-03-01", &now).unwrap(),
            now.timestamp() - 7 * 86400
        );
        assert!(parse_time("last tuesday", &now).is_err());
        assert_eq!(parse_filter("eventinfo=%wave%").unwrap().1, json!("%wave%"));
    }
}
