//! Properties over generated expressions, events and garbage.

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::criteria::{Event, parse};

/// A pointer from a small vocabulary, so that generated events hit it; some segments
/// need escapes or quotes.
fn pointer() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("x~1y".to_owned()),
        Just("t~0".to_owned()),
    ];
    prop::collection::vec(segment, 1..4).prop_map(|segments| format!("/{}", segments.join("/")))
}

/// A JSON literal as written in an expression.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-3i64..30).prop_map(|n| n.to_string()),
        Just("1.5".to_owned()),
        Just("-0.0".to_owned()),
        Just("1e1".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        "[a-c0-9 ]{0,3}".prop_map(|s| json!(s).to_string()),
        Just(r#""2024-01-01T00:00:00Z""#.to_owned()),
        Just(r#""say \"hi\"\n""#.to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("null".to_owned()),
    ]
}

/// A valid comparison.
fn comparison() -> impl Strategy<Value = String> {
    let attr = prop_oneof![
        4 => pointer(),
        1 => pointer().prop_map(|p| json!(p).to_string()),
        1 => Just(r#""/a b/c""#.to_owned()),
        1 => Just("ID".to_owned()),
        1 => Just("MS".to_owned()),
    ];
    let op = prop::sample::select(vec!["eq", "NE", "gt", "Ge", "lt", "le"]);
    prop_oneof![
        attr.clone().prop_map(|a| format!("{a} pr")),
        (attr.clone(), op, value()).prop_filter_map(
            "ordering needs no bool or null",
            |(a, op, v)| {
                let ordering = !["eq", "NE"].contains(&op);
                (!ordering || !["true", "false", "null"].contains(&v.as_str()))
                    .then(|| format!("{a} {op} {v}"))
            }
        ),
        (
            attr,
            prop::sample::select(vec!["co", "sw", "ew"]),
            "[a-c1]{0,2}"
        )
            .prop_map(|(a, op, s)| format!("{a} {op} {}", json!(s))),
        Just(r#"OP eq "GET""#.to_owned()),
    ]
}

/// A valid expression text, with random spacing and grouping.
fn expression() -> impl Strategy<Value = String> {
    comparison().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" and ")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" OR ")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("not({e})")),
            inner.prop_map(|e| format!("not (\n{e}\t)")),
        ]
    })
}

/// An envelope that the generated pointers partly resolve in.
fn envelope() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        (-3i64..30).prop_map(Json::from),
        Just(json!(1.5)),
        Just(json!(u64::MAX)),
        "[a-c0-9 ]{0,3}".prop_map(Json::from),
        Just(json!("2024-01-01T00:00:01Z")),
    ];
    leaf.prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::from),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "0", "1", "x/y", "t~", "a b"])
                    .prop_map(str::to_owned),
                inner,
                0..3,
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(source in expression()) {
        let criteria = parse(&source).map_err(|e| TestCaseError::fail(format!("{source:?}: {e}")))?;
        let printed = criteria.to_string();
        let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(reparsed.expr(), criteria.expr(), "{:?} printed as {:?}", source, printed);
        prop_assert_eq!(reparsed.to_string(), printed);
        prop_assert!(reparsed.warnings().iter().all(|w| !w.message.contains("binds tighter")));
    }

    #[test]
    fn ne_is_not_eq(attr in pointer(), value in value(), envelope in envelope(), ids in prop::collection::vec("[a-c]{0,2}", 0..3)) {
        let ne = parse(&format!("{attr} ne {value}")).unwrap();
        let not_eq = parse(&format!("not ({attr} eq {value})")).unwrap();
        let event = Event { envelope: &envelope, ids: &ids, op: None, ms: None };
        prop_assert_eq!(ne.evaluate(&event), not_eq.evaluate(&event));
        let id_ne = parse(&format!("ID ne {value}")).unwrap();
        let id_not_eq = parse(&format!("not (ID eq {value})")).unwrap();
        prop_assert_eq!(id_ne.evaluate(&event), id_not_eq.evaluate(&event));
    }

    #[test]
    fn evaluation_agrees_with_the_canonical_form(source in expression(), envelope in envelope()) {
        let criteria = parse(&source).unwrap();
        let canonical = parse(&criteria.to_string()).unwrap();
        let ids = ["a".to_owned()];
        let event = Event { envelope: &envelope, ids: &ids, op: Some("GET"), ms: Some("b") };
        prop_assert_eq!(criteria.evaluate(&event), canonical.evaluate(&event));
    }

    #[test]
    fn no_input_panics(source in "\\PC{0,64}") {
        check_errors_are_located(&source);
    }

    #[test]
    fn no_grammar_soup_panics(source in "[()\"\\\\/ a-z*~0-9.\\-\t\nEQNOTé]{0,80}") {
        check_errors_are_located(&source);
    }

    #[test]
    fn deep_nesting_does_not_overflow(
        parts in prop::collection::vec(prop::sample::select(vec!["(", "not(", "not (", "not ", ")", "/a pr", " and ", " or "]), 0..4000)
    ) {
        check_errors_are_located(&parts.concat());
    }
}

/// Parses `source` and checks that each error is located inside it, consistently.
fn check_errors_are_located(source: &str) {
    if let Err(errors) = parse(source) {
        assert!(!errors.0.is_empty());
        for error in &errors.0 {
            assert!(error.offset <= source.len(), "{source:?}: {error:?}");
            let before = &source[..error.offset];
            assert_eq!(error.line, before.matches('\n').count() + 1);
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            assert_eq!(error.column, column);
            let _ = error.render(source);
        }
    }
}
