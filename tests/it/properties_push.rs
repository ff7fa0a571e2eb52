//! Property tests for what `graph-push` reads from Microsoft: per-record
//! results of Sentinel, Defender and Graph batch answers, error bodies,
//! Graph delete results and Entra ID token errors (docs/design.md#entra-id-tokens,
//! #sentinel-stix-upload, #defender-indicators, #graph-tiindicators).

use misp2ms::error::Error;
use misp2ms::push::auth::token_error;
use misp2ms::push::delete::delete_results;
use misp2ms::push::targets::{error_text, parse_results, RecordResult, Target};
use proptest::prelude::*;
use serde_json::{json, Value};

const TARGETS: [Target; 3] = [Target::Sentinel, Target::Defender, Target::Graph];

/// Any JSON value, biased towards the keys Microsoft's answers use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::from),
        "AADSTS[0-9]{0,9}\\PC{0,10}( Trace ID: x)?".prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "errors",
        "recordIndex",
        "errorMessages",
        "validationErrorMessages",
        "value",
        "isFailed",
        "failureReason",
        "indicator",
        "externalId",
        "error",
        "Error",
        "code",
        "message",
        "error_description",
        "error_codes",
        "statusCode",
        "id",
        "subcode",
        "x",
    ]);
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A body: JSON of any shape, or text (HTML error pages, cut-off JSON).
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        (json_value(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let s = v.to_string();
            let mut cut = i.index(s.len() + 1);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s[..cut].to_string()
        }),
        "\\PC{0,100}",
    ]
}

fn values(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}.example.com")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any body: one result per record, and no panic.
    #[test]
    fn results_never_panic(body in body(), n in 0usize..8) {
        for t in TARGETS {
            prop_assert_eq!(parse_results(t, &body, &values(n)).len(), n);
        }
        prop_assert_eq!(delete_results(&body, n).len(), n);
        let text = error_text(&body);
        prop_assert!(text.chars().count() <= 301);
        prop_assert!(!text.contains(['\n', '\r']), "{:?}", text);
    }

    /// Sentinel: the records named by `recordIndex` are rejected with their
    /// messages (either spelling of the array), all others accepted; indices
    /// out of range or not numbers are ignored.
    #[test]
    fn sentinel_partial_failures(
        n in 1usize..20,
        errors in prop::collection::vec((0usize..25, any::<bool>(), "[^;]{1,20}"), 0..6),
        noise in prop::collection::vec(json_value(), 0..3),
    ) {
        let mut list: Vec<Value> = errors
            .iter()
            .map(|(i, learn, msg)| {
                let field = if *learn { "errorMessages" } else { "validationErrorMessages" };
                json!({"recordIndex": i, field: [msg]})
            })
            .collect();
        list.extend(noise.into_iter().map(|v| json!({"recordIndex": v})).filter(|v| !v["recordIndex"].is_u64()));
        let body = json!({"errors": list}).to_string();
        let got = parse_results(Target::Sentinel, &body, &values(n));
        for (i, r) in got.iter().enumerate() {
            let msgs: Vec<&str> = errors.iter().filter(|(j, _, _)| *j == i).map(|(_, _, m)| m.as_str()).collect();
            match r {
                RecordResult::Accepted => prop_assert!(msgs.is_empty(), "record {} accepted", i),
                RecordResult::Rejected(text) => {
                    prop_assert!(!msgs.is_empty(), "record {} rejected: {}", i, text);
                    // The last entry for an index wins.
                    prop_assert!(text.contains(msgs[msgs.len() - 1]), "{}", text);
                }
                RecordResult::Unknown(t) => prop_assert!(false, "unknown: {}", t),
            }
        }
    }

    /// Defender and Graph: one item per record, in order or shuffled, the
    /// failed ones rejected with their reason, all matched by the echo.
    #[test]
    fn item_results_match_records(
        outcomes in prop::collection::vec((any::<bool>(), "[a-zA-Z ]{0,20}"), 1..12),
        shuffle in any::<bool>(),
        upper in any::<bool>(),
        rot in any::<usize>(),
    ) {
        let n = outcomes.len();
        let want = values(n);
        for t in [Target::Defender, Target::Graph] {
            let mut items: Vec<Value> = outcomes
                .iter()
                .zip(&want)
                .map(|((failed, reason), v)| {
                    let echo = if upper { v.to_uppercase() } else { v.clone() };
                    match t {
                        Target::Defender => json!({"id": "1", "indicator": echo, "isFailed": failed,
                            "failureReason": if *failed { json!(reason) } else { Value::Null }}),
                        _ => json!({"externalId": echo,
                            "error": if *failed { json!({"code": "BadRequest", "message": reason}) } else { Value::Null }}),
                    }
                })
                .collect();
            if shuffle {
                items.rotate_left(rot % n);
            }
            let body = json!({"value": items}).to_string();
            let got = parse_results(t, &body, &want);
            for (i, ((failed, _), r)) in outcomes.iter().zip(&got).enumerate() {
                match r {
                    RecordResult::Accepted => prop_assert!(!failed, "{:?} record {} accepted", t, i),
                    RecordResult::Rejected(_) => prop_assert!(failed, "{:?} record {} rejected", t, i),
                    RecordResult::Unknown(m) => prop_assert!(false, "{:?} record {}: {}", t, i, m),
                }
            }
        }
    }

    /// Items without echoes, fewer than the records: the records without an
    /// item are unknown (resent), never silently accepted.
    #[test]
    fn missing_items_are_unknown(n in 2usize..10, k in 0usize..10) {
        let k = k % n;
        let items: Vec<Value> = (0..k).map(|_| json!({"isFailed": false})).collect();
        let body = json!({"value": items}).to_string();
        for t in [Target::Defender, Target::Graph] {
            let got = parse_results(t, &body, &values(n));
            prop_assert!(got.iter().all(|r| matches!(r, RecordResult::Unknown(_))), "{:?}: {:?}", t, got);
        }
    }

    /// Error bodies in the documented shapes give their code and message.
    #[test]
    fn error_text_finds_code_and_message(code in "[A-Za-z]{1,20}", msg in "\\PC{1,50}", shape in 0u8..3) {
        let body = match shape {
            0 => json!({"error": {"code": code, "message": msg}}),
            1 => json!({"statusCode": 429, "message": msg}),
            _ => json!({"error": code, "error_description": msg}),
        }
        .to_string();
        let text = error_text(&body);
        // Blanks and line breaks fold into single spaces.
        let words: Vec<&str> = msg.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
        let start: String = words.join(" ").chars().take(200).collect();
        prop_assert!(text.contains(&start), "{:?} lacks {:?}", text, msg);
    }

    /// Graph delete answers: one `resultInfo` per id, in order.
    #[test]
    fn delete_results_follow_codes(codes in prop::collection::vec(prop_oneof![Just(0i64), 200i64..300, 400i64..600], 1..10)) {
        let items: Vec<Value> = codes.iter().map(|c| json!({"code": c, "message": "m"})).collect();
        let got = delete_results(&json!({"value": items}).to_string(), codes.len());
        for (c, r) in codes.iter().zip(&got) {
            prop_assert_eq!(r.is_ok(), *c == 0 || (200..300).contains(c), "code {} gave {:?}", c, r);
        }
    }

    /// Entra token errors: any body gives an error (auth for 400/401/403) and
    /// no panic; a documented body names its error, not its trace ids, and a
    /// known AADSTS code brings its hint.
    #[test]
    fn token_errors(
        body in body(),
        status in prop::sample::select(vec![400u16, 401, 403, 429, 500, 503]),
        error in "(invalid_client|invalid_request|unauthorized_client|invalid_grant)",
        code in prop::sample::select(vec![7000215u64, 7000222, 700016, 90002, 500011, 70011, 12345]),
        in_list in any::<bool>(),
    ) {
        let e = token_error("https://login.example/t/oauth2/v2.0/token", status, &body);
        prop_assert_eq!(matches!(e, Error::Auth(_)), matches!(status, 400 | 401 | 403));
        let doc = json!({
            "error": error,
            "error_description": format!("AADSTS{code}: Something failed.\r\nTrace ID: 0b1c Correlation ID: 2d3e Timestamp: 2026-03-02"),
            "error_codes": if in_list { json!([code]) } else { json!([]) },
            "trace_id": "0b1c",
        })
        .to_string();
        let msg = token_error("https://login.example/t", status, &doc).to_string();
        prop_assert!(msg.contains(&error), "{}", msg);
        prop_assert!(msg.contains(&format!("AADSTS{code}")), "{}", msg);
        prop_assert!(!msg.contains("Trace ID") && !msg.contains('\n'), "{}", msg);
        prop_assert_eq!(msg.contains("hint:"), code != 12345, "{}", msg);
    }
}

// Regressions: inputs the properties above (or the fuzzer) once failed on.

/// Entra writes "\r\n" before "Trace ID:": the ids stayed in the message.
#[test]
fn regression_trace_id_after_line_break() {
    let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0b1c\r\nCorrelation ID: 2d3e\r\nTimestamp: 2026-03-02 10:15:00Z","error_codes":[7000215]}"#;
    let msg = token_error("https://login.example/t", 401, body).to_string();
    assert!(!msg.contains("Trace ID") && !msg.contains("2d3e"), "{msg}");
    assert!(
        msg.contains("invalid_client: AADSTS7000215: Invalid client secret provided. (hint:"),
        "{msg}"
    );
}

/// OAuth's `{"error":"code","error_description":"…"}`: the text was the whole body.
#[test]
fn regression_oauth_error_shape() {
    let text = error_text(r#"{"error":"invalid_token","error_description":"The token expired"}"#);
    assert_eq!(text, "invalid_token: The token expired");
}

/// A line break in the `error` field (the fuzzer's find) or an HTML error
/// page split the error message over lines.
#[test]
fn regression_messages_are_one_line() {
    let body = "{\"error\":\"unauthorized\\r\\nclient\",\"error_description\":\"AADSTS700016: x\"}";
    let msg = token_error("https://login.example/t", 401, body).to_string();
    assert!(!msg.contains(['\n', '\r']), "{msg:?}");
    let msg = token_error(
        "https://login.example/t",
        502,
        "<html>\n<body>Bad Gateway</body>\n</html>\n",
    )
    .to_string();
    assert!(!msg.contains(['\n', '\r']), "{msg:?}");
    assert!(
        msg.contains("<html> <body>Bad Gateway</body> </html>"),
        "{msg}"
    );
}
