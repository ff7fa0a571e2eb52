use std::io::{self, Read};

use super::*;

/// A reader that hands out one byte at a time (worst case for framing).
struct Trickle<'a>(&'a [u8]);
impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

fn collect(doc: &str, shape: Shape) -> std::result::Result<Vec<String>, StreamError> {
    let mut out = Vec::new();
    for_each_element(Trickle(doc.as_bytes()), shape, 1 << 20, |e| {
        out.push(String::from_utf8(e.to_vec()).unwrap());
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn events_are_framed_and_compacted() {
    let doc = "{ \"response\" : [ {\"Event\": {\"id\": \"1\", \"info\": \"a ] } \\\" x\"}} ,\n {\"Event\":{\"id\":2,\"Attribute\":[{\"value\":\"b\\\\\"}]}} ] }\n";
    let got = collect(doc, Shape::Events).unwrap();
    assert_eq!(
        got,
        vec![
            r#"{"Event":{"id":"1","info":"a ] } \" x"}}"#,
            r#"{"Event":{"id":2,"Attribute":[{"value":"b\\"}]}}"#
        ]
    );
    assert!(collect(r#"{"response":[]}"#, Shape::Events)
        .unwrap()
        .is_empty());
}

#[test]
fn attributes_shape() {
    let doc = r#"{"response":{"Attribute":[{"id":"7","value":"x"},{"id":"8"}]}}"#;
    assert_eq!(collect(doc, Shape::Attributes).unwrap().len(), 2);
    let empty = r#"{"response":{"Attribute":[]}}"#;
    assert!(collect(empty, Shape::Attributes).unwrap().is_empty());
}

#[test]
fn cut_documents_are_errors() {
    for doc in [
        r#"{"response":[{"Event":{"id":"1"}},{"Event":{"id":"#,
        r#"{"response":[{"Event":{"id":"1"}}"#,
        r#"{"response":[{"Event":{"id":"1"}}]"#,
        r#"{"response":[{"Event":{"info":"a\"#,
        "",
    ] {
        let err = collect(doc, Shape::Events).unwrap_err();
        assert!(err.retryable(), "{doc}: {err}");
    }
}

#[test]
fn error_bodies_are_not_events() {
    let doc = r#"{"name":"Not Found","message":"Not Found","url":"/x"}"#;
    let err = collect(doc, Shape::Events).unwrap_err();
    assert!(!err.retryable());
    assert!(err.to_string().contains("Not Found"), "{err}");
}

#[test]
fn feed_files_in_three_forms() {
    let plain = "{\"Event\": {\"uuid\": \"u\"}}\n";
    assert_eq!(
        collect(plain, Shape::FeedEvent).unwrap(),
        vec![r#"{"Event":{"uuid":"u"}}"#]
    );
    let list = r#"[{"Event":{"uuid":"u"}}]"#;
    assert_eq!(collect(list, Shape::FeedEvent).unwrap().len(), 1);
    let wrapped = r#"{"response":[{"Event":{"uuid":"u"}}]}"#;
    assert_eq!(collect(wrapped, Shape::FeedEvent).unwrap().len(), 1);
}

/// Documents with strings full of quotes, backslashes and brackets, at
/// every alignment against the 64-byte blocks, framed with whole reads
/// (block path) and one byte at a time (byte path), compact and pretty.
#[test]
fn block_and_byte_paths_agree_with_serde() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let pieces = [
        "\\", "\"", "{", "}", "[", "]", "\\\"", "a", " ", "é", "\n", ",", ":",
    ];
    for round in 0..200 {
        let mut events = Vec::new();
        for e in 0..(1 + rnd(4)) {
            let mut attrs = Vec::new();
            for _ in 0..rnd(6) {
                let len = rnd(80);
                let v: String = (0..len)
                    .map(|_| pieces[rnd(pieces.len() as u64) as usize])
                    .collect();
                attrs.push(serde_json::json!({"value": v, "n": [1, {"x": []}], "t": null}));
            }
            let pad = "p".repeat(rnd(70) as usize);
            events.push(serde_json::json!({"Event": {"id": e, "pad": pad, "Attribute": attrs}}));
        }
        let doc = serde_json::json!({"response": events});
        let texts = [
            serde_json::to_string(&doc).unwrap(),
            serde_json::to_string_pretty(&doc).unwrap(),
        ];
        for text in texts {
            let want: Vec<String> = events
                .iter()
                .map(|e| serde_json::to_string(e).unwrap())
                .collect();
            let mut whole = Vec::new();
            for_each_element(text.as_bytes(), Shape::Events, 1 << 20, |e| {
                whole.push(String::from_utf8(e.to_vec()).unwrap());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(whole, want, "round {round}");
            assert_eq!(
                collect(&text, Shape::Events).unwrap(),
                want,
                "round {round}"
            );
            // Cut anywhere before the end: always an error, never a short result.
            let cut = rnd(text.len() as u64 - 1) as usize;
            let cut_text = &text.as_bytes()[..cut];
            let res = for_each_element(cut_text, Shape::Events, 1 << 20, |_| Ok(()));
            assert!(res.is_err(), "round {round}: cut at {cut} was accepted");
        }
    }
}

#[test]
fn element_size_limit() {
    let big = format!(
        r#"{{"response":[{{"Event":{{"info":"{}"}}}}]}}"#,
        "x".repeat(3 << 20)
    );
    let err = for_each_element(big.as_bytes(), Shape::Events, 1000, |_| Ok(())).unwrap_err();
    assert!(matches!(err, StreamError::TooLarge { .. }), "{err}");
}
