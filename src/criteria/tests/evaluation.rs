//! The Evaluation section of `docs/criteria.md`, rule by rule.

use serde_json::json;

use super::{matches, valid};
use crate::criteria::Event;

/// Checks `source` against `envelope` for each `(envelope, expected)` pair.
fn table(source: &str, cases: &[(serde_json::Value, bool)]) {
    for (envelope, expected) in cases {
        assert_eq!(
            matches(source, envelope),
            *expected,
            "{source} on {envelope}"
        );
    }
}

#[test]
fn the_seed_examples_evaluate() {
    let create = json!({"eventType": "CustomerCreateEvent", "event": {"customer": {"id": 20000}}});
    let small = json!({"eventType": "CustomerCreateEvent", "event": {"customer": {"id": "500"}}});
    let update = json!({"eventType": "CustomerUpdateEvent", "event": {"customer": {"id": 20000}}});
    let rule = r#"((/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent") and "/event/customer/id" gt 10000)"#;
    table(
        rule,
        &[
            (create.clone(), true),
            (small.clone(), false),
            (update.clone(), false),
        ],
    );
    table(
        r#""/event/customer/id" gt 10000"#,
        &[
            (create.clone(), true),
            (small, false),
            (update.clone(), true),
        ],
    );
    table(
        r#"(/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent")"#,
        &[(create, true), (update, false)],
    );
    let party = "(ID pr or /event/individual/familyName pr or /event/individual/id pr or /event/organization/tradingName pr or /event/organization/id pr)";
    table(
        party,
        &[
            (
                json!({"event": {"individual": {"familyName": "abc"}}}),
                true,
            ),
            (json!({"event": {"organization": {"id": "O1"}}}), true),
            (json!({"event": {"individual": {"familyName": ""}}}), false),
            (json!({"event": {}}), false),
        ],
    );
    let ids = ["CDRM_1".to_owned()];
    let nothing = json!({});
    let event = Event {
        envelope: &nothing,
        ids: &ids,
        op: None,
        ms: None,
    };
    assert!(valid(party).evaluate(&event));
    let tax = r#"(/eventType eq "/event/TaxEvent3" or /eventType eq "/event/TaxEvent1" and "/event/TaxEvent3/familyName" eq "abc")"#;
    table(
        tax,
        &[
            (json!({"eventType": "/event/TaxEvent3"}), true),
            (json!({"eventType": "/event/TaxEvent1"}), false),
            (
                json!({"eventType": "/event/TaxEvent1", "event": {"TaxEvent3": {"familyName": "abc"}}}),
                true,
            ),
            (json!({"eventType": "TaxEvent3"}), false),
        ],
    );
    assert!(valid("*").evaluate(&event));
}

#[test]
fn present() {
    table(
        "/a pr",
        &[
            (json!({"a": 0}), true),
            (json!({"a": false}), true),
            (json!({"a": "x"}), true),
            (json!({"a": [null]}), true),
            (json!({"a": {"b": 1}}), true),
            (json!({"a": null}), false),
            (json!({"a": ""}), false),
            (json!({"a": []}), false),
            (json!({"a": {}}), false),
            (json!({}), false),
            (json!([]), false),
        ],
    );
}

#[test]
fn missing_attributes_are_false_except_ne() {
    let missing = json!({"b": 1});
    for op in ["eq", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
        assert!(!matches(&format!("/a {op} \"1\""), &missing), "{op}");
    }
    assert!(matches(r#"/a ne "1""#, &missing));
    assert!(matches("/a ne null", &missing));
    assert!(!matches("/a eq null", &missing));
    assert!(matches("/a eq null", &json!({"a": null})));
    assert!(matches(r#"/a/b/c ne 1"#, &json!({"a": 5})));
}

#[test]
fn strings_compare_exactly_by_code_point() {
    let envelope = json!({"s": "Hello"});
    table(
        r#"/s eq "Hello""#,
        &[(envelope.clone(), true), (json!({"s": "hello"}), false)],
    );
    table(
        r#"/s co "ell""#,
        &[(envelope.clone(), true), (json!({"s": "ELL"}), false)],
    );
    table(
        r#"/s sw "He""#,
        &[(envelope.clone(), true), (json!({"s": "he"}), false)],
    );
    table(
        r#"/s ew "lo""#,
        &[(envelope.clone(), true), (json!({"s": "LO"}), false)],
    );
    table(r#"/s gt "Hell""#, &[(envelope.clone(), true)]);
    table(r#"/s lt "a""#, &[(envelope.clone(), true)]);
    table(
        r#"/s gt "é""#,
        &[(json!({"s": "z"}), false), (json!({"s": "ë"}), true)],
    );
    table(r#"/s co """#, &[(envelope, true)]);
    table(
        r#"/n co "1""#,
        &[(json!({"n": 1}), false), (json!({"n": "1"}), true)],
    );
    table(r#"/b sw "t""#, &[(json!({"b": true}), false)]);
}

#[test]
fn numbers_compare_by_value() {
    table(
        "/n gt 10000",
        &[
            (json!({"n": 10001}), true),
            (json!({"n": 10000}), false),
            (json!({"n": 10000.5}), true),
            (json!({"n": -20000}), false),
            (json!({"n": "20000"}), true),
            (json!({"n": "9999.99"}), false),
            (json!({"n": "0020000"}), true),
            (json!({"n": "1e5"}), true),
            (json!({"n": "20000x"}), false),
            (json!({"n": "abc"}), false),
            (json!({"n": true}), false),
            (json!({"n": null}), false),
        ],
    );
    table(
        "/n eq 1",
        &[
            (json!({"n": 1.0}), true),
            (json!({"n": "1.000"}), true),
            (json!({"n": 1.5}), false),
        ],
    );
    table(
        "/n eq 1e3",
        &[(json!({"n": 1000}), true), (json!({"n": "1000"}), true)],
    );
    table(
        "/n ge -0.5",
        &[
            (json!({"n": -0.5}), true),
            (json!({"n": 0}), true),
            (json!({"n": -1}), false),
        ],
    );
    table(
        "/n le 0",
        &[(json!({"n": -0.0}), true), (json!({"n": u64::MAX}), false)],
    );
    table(r#"/n eq "1""#, &[(json!({"n": 1}), false)]);
}

#[test]
fn big_integers_compare_exactly() {
    table(
        "/n gt 123456789012345678901234567890",
        &[
            (json!({"n": "123456789012345678901234567891"}), true),
            (json!({"n": "123456789012345678901234567890"}), false),
            (json!({"n": u64::MAX}), false),
        ],
    );
    table(
        "/n eq 18446744073709551615",
        &[
            (json!({"n": u64::MAX}), true),
            (json!({"n": u64::MAX - 1}), false),
        ],
    );
    table(
        "/n lt -9223372036854775808",
        &[
            (json!({"n": i64::MIN}), false),
            (json!({"n": "-9223372036854775809"}), true),
        ],
    );
    table(
        "/n eq 9007199254740993",
        &[
            (json!({"n": 9_007_199_254_740_993u64}), true),
            (json!({"n": 9_007_199_254_740_992u64}), false),
        ],
    );
}

#[test]
fn date_times_compare_in_time() {
    let rule = r#"/t gt "2024-01-01T00:00:00Z""#;
    table(
        rule,
        &[
            (json!({"t": "2024-01-01T00:00:01Z"}), true),
            (json!({"t": "2024-01-01T01:00:00+02:00"}), false),
            (json!({"t": "2023-12-31T23:00:00-02:00"}), true),
            (json!({"t": "2024-01-01T00:00:00.5Z"}), true),
            (json!({"t": "2024-01-01T00:00:00Z"}), false),
        ],
    );
    table(
        r#"/t ge "2024-01-01T02:00:00+02:00""#,
        &[(json!({"t": "2024-01-01T00:00:00Z"}), true)],
    );
    table(
        r#"/t lt "2024-01-01T02:00:00+02:00""#,
        &[(json!({"t": "2024-01-01T00:00:00Z"}), false)],
    );
    // Not both date-times: by code point.
    table(
        r#"/t gt "2024-01-01""#,
        &[
            (json!({"t": "2024-01-01T00:00:00Z"}), true),
            (json!({"t": "2023-12-31T00:00:00Z"}), false),
        ],
    );
    table(
        r#"/t gt "2024-01-01T00:00:00Z""#,
        &[(json!({"t": "2024-13-01"}), true)],
    );
    // eq stays exact.
    table(
        r#"/t eq "2024-01-01T00:00:00Z""#,
        &[(json!({"t": "2024-01-01T02:00:00+02:00"}), false)],
    );
}

#[test]
fn booleans_and_null() {
    table(
        "/b eq true",
        &[
            (json!({"b": true}), true),
            (json!({"b": false}), false),
            (json!({"b": "true"}), false),
        ],
    );
    table(
        "/b ne true",
        &[(json!({"b": false}), true), (json!({"b": true}), false)],
    );
    table(
        "/b eq null",
        &[(json!({"b": null}), true), (json!({"b": 0}), false)],
    );
    table(
        "/b ne null",
        &[(json!({"b": 0}), true), (json!({"b": null}), false)],
    );
}

#[test]
fn arrays_fan_out() {
    let envelope = json!({"event": {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}], "tags": ["vip", "new"]}});
    table(r#"/event/items/sku eq "B""#, &[(envelope.clone(), true)]);
    table(r#"/event/items/sku eq "C""#, &[(envelope.clone(), false)]);
    table("/event/items/qty gt 4", &[(envelope.clone(), true)]);
    table("/event/items/qty gt 5", &[(envelope.clone(), false)]);
    table(r#"/event/tags eq "vip""#, &[(envelope.clone(), true)]);
    table(r#"/event/tags sw "ne""#, &[(envelope.clone(), true)]);
    table(r#"/event/tags ne "vip""#, &[(envelope.clone(), false)]);
    table("/event/items/sku pr", &[(envelope.clone(), true)]);
    table("/event/items/colour pr", &[(envelope.clone(), false)]);
    table(r#"/m/k eq 1"#, &[(json!({"m": [[{"k": 1}]]}), true)]);
}

#[test]
fn numeric_segments_index_arrays() {
    let envelope =
        json!({"items": [{"sku": "A"}, {"sku": "B"}], "map": {"0": "zero", "01": "one"}});
    table(r#"/items/0/sku eq "A""#, &[(envelope.clone(), true)]);
    table(r#"/items/1/sku eq "A""#, &[(envelope.clone(), false)]);
    table(r#"/items/2/sku pr"#, &[(envelope.clone(), false)]);
    table(r#"/items/01/sku pr"#, &[(envelope.clone(), false)]);
    table(r#"/map/0 eq "zero""#, &[(envelope.clone(), true)]);
    table(r#"/map/01 eq "one""#, &[(envelope, true)]);
}

#[test]
fn pointer_escapes_address_keys() {
    let envelope = json!({"a/b": {"c~d": 1}, "": {" x ": 2}});
    table("/a~1b/c~0d eq 1", &[(envelope.clone(), true)]);
    table(r#""/a~1b/c~0d" eq 1"#, &[(envelope.clone(), true)]);
    table(r#""// x " eq 2"#, &[(envelope, true)]);
}

#[test]
fn keywords_read_the_request() {
    let envelope = json!({});
    let ids = ["CDRM_1".to_owned(), "NEW-42".to_owned()];
    let event = Event {
        envelope: &envelope,
        ids: &ids,
        op: Some("PATCH"),
        ms: Some("notification"),
    };
    let bare = Event {
        envelope: &envelope,
        ids: &[],
        op: None,
        ms: None,
    };
    for (source, on_event, on_bare) in [
        (r#"ID eq "NEW-42""#, true, false),
        (r#"ID eq "NEW""#, false, false),
        (r#"ID sw "NEW-""#, true, false),
        (r#"ID co "DRM""#, true, false),
        (r#"ID ew "_1""#, true, false),
        (r#"ID ne "NEW-42""#, false, true),
        ("ID pr", true, false),
        (r#"OP eq "PATCH""#, true, false),
        (r#"OP ne "GET""#, true, true),
        ("OP pr", true, false),
        (r#"MS eq "notification""#, true, false),
        ("MS pr", true, false),
        (r#"MS eq "delivery" or OP eq "PATCH""#, true, false),
    ] {
        let criteria = valid(source);
        assert_eq!(
            criteria.evaluate(&event),
            on_event,
            "{source} on the request"
        );
        assert_eq!(criteria.evaluate(&bare), on_bare, "{source} on no request");
    }
}

#[test]
fn logic() {
    let envelope = json!({"a": 1, "b": 2});
    table("/a eq 1 and /b eq 2", &[(envelope.clone(), true)]);
    table("/a eq 1 and /b eq 3", &[(envelope.clone(), false)]);
    table("/a eq 0 or /b eq 2", &[(envelope.clone(), true)]);
    table("not (/a eq 1)", &[(envelope.clone(), false)]);
    table("not (/a eq 0) and not (/c pr)", &[(envelope.clone(), true)]);
    table(
        "/a eq 0 or /b eq 2 and /a eq 0",
        &[(envelope.clone(), false)],
    );
    table("(/a eq 0 or /b eq 2) and /a eq 1", &[(envelope, true)]);
}
