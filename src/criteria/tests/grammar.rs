//! The grammar and the decisions about what parses, and the canonical printer.

use super::{invalid, valid};
use crate::criteria::ast::{Attr, CompareOp, Comparison, Expr, Test, Value};

/// `source` parses and prints as `canonical`, which parses to the same tree.
fn give(source: &str, canonical: &str) {
    let criteria = valid(source);
    assert_eq!(
        criteria.to_string(),
        canonical,
        "canonical form of {source:?}"
    );
    let reparsed = valid(canonical);
    assert_eq!(
        reparsed.expr(),
        criteria.expr(),
        "{canonical:?} parses back to another tree"
    );
    assert_eq!(
        reparsed.to_string(),
        canonical,
        "canonical form is a fixed point"
    );
}

#[test]
fn the_seed_examples_parse() {
    give("*", "*");
    give(
        r#"((/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent") and "/event/customer/id" gt 10000)"#,
        r#"(/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent") and /event/customer/id gt 10000"#,
    );
    give(
        r#""/event/customer/id" gt 10000"#,
        "/event/customer/id gt 10000",
    );
    give(
        r#"(/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent")"#,
        r#"/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent""#,
    );
    give(
        "(ID pr or /event/individual/familyName pr or /event/individual/id pr or /event/organization/tradingName pr or /event/organization/id pr)",
        "ID pr or /event/individual/familyName pr or /event/individual/id pr or /event/organization/tradingName pr or /event/organization/id pr",
    );
    give(
        r#"(/eventType eq "/event/TaxEvent3" or /eventType eq "/event/TaxEvent1" and "/event/TaxEvent3/familyName" eq "abc")"#,
        r#"/eventType eq "/event/TaxEvent3" or (/eventType eq "/event/TaxEvent1" and /event/TaxEvent3/familyName eq "abc")"#,
    );
}

#[test]
fn star_is_match_all_only_alone() {
    assert!(valid("*").is_match_all());
    assert!(valid(" \n*\t ").is_match_all());
    assert!(!valid("/a pr").is_match_all());
}

#[test]
fn and_binds_tighter_than_or() {
    give("/a pr or /b pr and /c pr", "/a pr or (/b pr and /c pr)");
    give("/a pr and /b pr or /c pr", "(/a pr and /b pr) or /c pr");
    give("(/a pr or /b pr) and /c pr", "(/a pr or /b pr) and /c pr");
    give("/a pr and /b pr and /c pr", "/a pr and /b pr and /c pr");
    give("/a pr or /b pr or /c pr", "/a pr or /b pr or /c pr");
    let Some(Expr::Or(operands)) = valid("/a pr or /b pr and /c pr").expr().cloned() else {
        panic!("expected an or");
    };
    assert!(matches!(operands.as_slice(), [Expr::Comparison(_), Expr::And(and)] if and.len() == 2));
}

#[test]
fn explicit_grouping_is_kept() {
    give("(/a pr or /b pr) or /c pr", "(/a pr or /b pr) or /c pr");
    give("/a pr and (/b pr and /c pr)", "/a pr and (/b pr and /c pr)");
    give("((((/a pr))))", "/a pr");
}

#[test]
fn not_takes_parentheses() {
    give("not (/a pr)", "not (/a pr)");
    give("not(/a pr)", "not (/a pr)");
    give("NOT (/a pr or /b pr)", "not (/a pr or /b pr)");
    give("not (not (/a pr))", "not (not (/a pr))");
    give("not (/a pr) and /b pr", "not (/a pr) and /b pr");
}

#[test]
fn operators_and_logic_are_case_insensitive() {
    give(
        r#"/a EQ "x" AND /b Pr Or /c gE 1"#,
        r#"(/a eq "x" and /b pr) or /c ge 1"#,
    );
    for op in CompareOp::ALL {
        let upper = format!("/a {} \"x\"", op.as_str().to_uppercase());
        let lower = format!("/a {} \"x\"", op.as_str());
        give(&upper, &lower);
    }
}

#[test]
fn keywords_are_upper_case_attributes() {
    give(r#"ID sw "NEW-""#, r#"ID sw "NEW-""#);
    give(r#"OP eq "GET""#, r#"OP eq "GET""#);
    give(r#"MS eq "notification""#, r#"MS eq "notification""#);
    let attr = |s: &str| match valid(s).expr() {
        Some(Expr::Comparison(Comparison { attr, .. })) => attr.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(attr("ID pr"), Attr::Id);
    assert_eq!(attr("OP pr"), Attr::Op);
    assert_eq!(attr("MS pr"), Attr::Ms);
}

#[test]
fn pointers_bare_or_quoted_are_the_same() {
    assert_eq!(
        valid("/event/customer/id pr").expr(),
        valid(r#""/event/customer/id" pr"#).expr()
    );
    give(r#""/a b/c" pr"#, r#""/a b/c" pr"#);
    give(r#""/a(b)" pr"#, r#""/a(b)" pr"#);
    give("/a~1b/c~0d pr", "/a~1b/c~0d pr");
    give(r#""/a\"b" pr"#, r#""/a\"b" pr"#);
    give("/ pr", "/ pr");
    give("/a/*/€ pr", "/a/*/€ pr");
}

#[test]
fn pointer_escapes_are_decoded() {
    let Some(Expr::Comparison(Comparison {
        attr: Attr::Pointer(pointer),
        ..
    })) = valid("/a~1b/c~0d/~01/0/01 pr").expr().cloned()
    else {
        panic!("expected a pointer comparison");
    };
    let keys: Vec<&str> = pointer.segments().iter().map(|s| s.key()).collect();
    assert_eq!(keys, ["a/b", "c~d", "~1", "0", "01"]);
    let indexes: Vec<Option<usize>> = pointer.segments().iter().map(|s| s.index()).collect();
    assert_eq!(indexes, [None, None, None, Some(0), None]);
}

#[test]
fn values_are_json_literals() {
    let value = |s: &str| match valid(s).expr() {
        Some(Expr::Comparison(Comparison {
            test: Test::Compare(_, v),
            ..
        })) => v.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(value(r#"/a eq "x""#), Value::String(t) if t.as_str() == "x"));
    assert!(matches!(value(r#"/a eq "\u00e9\n""#), Value::String(t) if t.as_str() == "é\n"));
    assert!(matches!(value("/a eq -1.5e3"), Value::Number(n) if n.as_str() == "-1.5e3"));
    assert_eq!(value("/a eq true"), Value::Bool(true));
    assert_eq!(value("/a eq false"), Value::Bool(false));
    assert_eq!(value("/a eq null"), Value::Null);
    give(
        r#"/eventType eq "/event/TaxEvent3""#,
        r#"/eventType eq "/event/TaxEvent3""#,
    );
    give(
        "/a eq 123456789012345678901234567890",
        "/a eq 123456789012345678901234567890",
    );
    give(r#"/a eq "tab\there""#, r#"/a eq "tab\there""#);
}

#[test]
fn whitespace_is_space_tab_cr_lf_and_parentheses_separate() {
    give("\t/a\r\neq\n\"x\"  ", r#"/a eq "x""#);
    give("(/a pr)and(/b pr)", "/a pr and /b pr");
    give("(/a pr)or(/b pr)", "/a pr or /b pr");
    give("( /a pr )", "/a pr");
}

#[test]
fn nesting_is_allowed_to_64_levels() {
    let deep = format!("{}/a pr{}", "(".repeat(64), ")".repeat(64));
    give(&deep, "/a pr");
    let nots = format!("{}/a pr{}", "not (".repeat(64), ")".repeat(64));
    assert_eq!(valid(&nots).to_string(), nots);
    assert!(!invalid(&format!("{}/a pr{}", "(".repeat(65), ")".repeat(65))).is_empty());
}

#[test]
fn length_is_allowed_to_16_kib() {
    let filler = " ".repeat(16 * 1024 - "/a pr".len());
    valid(&format!("/a pr{filler}"));
    invalid(&format!("/a pr{filler} "));
}

#[test]
fn lint_warns_on_mixed_and_or_without_parentheses() {
    let criteria = valid("/a pr or /b pr and /c pr");
    let [warning] = criteria.warnings() else {
        panic!("expected one warning, got {:?}", criteria.warnings());
    };
    assert_eq!((warning.line, warning.column), (1, 16));
    assert!(
        warning.message.contains("binds tighter"),
        "{}",
        warning.message
    );
    for quiet in [
        "/a pr or (/b pr and /c pr)",
        "(/a pr or /b pr) and /c pr",
        "/a pr and /b pr",
        "/a pr or /b pr",
    ] {
        assert_eq!(valid(quiet).warnings(), [], "{quiet}");
    }
    assert_eq!(valid("(/a pr and /b pr or /c pr)").warnings().len(), 1);
}

#[test]
fn lint_warns_on_spaces_at_segment_ends() {
    let criteria = valid(r#"/a eq 1 and "/event/TaxEvent3/ familyName" eq "abc""#);
    let [warning] = criteria.warnings() else {
        panic!("expected one warning, got {:?}", criteria.warnings());
    };
    assert_eq!((warning.line, warning.column), (1, 13));
    assert_eq!(
        warning.hint.as_deref(),
        Some(
            r#"a line wrap may have leaked into the text; did you mean "/event/TaxEvent3/familyName"?"#
        )
    );
    assert_eq!(valid(r#""/event/a b" pr"#).warnings(), []);
    assert_eq!(
        valid(r#"/a eq "/x/ y""#).warnings(),
        [],
        "values are not linted"
    );
}
