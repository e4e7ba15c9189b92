//! Every error case, located by line and column, with its hint.

use super::invalid;
use crate::criteria::{Errors, MAX_DEPTH, parse};

/// `source` fails with exactly one error at `line`:`column` whose message contains
/// `message` and whose hint contains `hint`.
fn fail(source: &str, line: usize, column: usize, message: &str, hint: &str) {
    let errors = invalid(source);
    let [error] = errors.as_slice() else {
        panic!("{source:?}: expected one error, got {errors:#?}");
    };
    assert_eq!(
        (error.line, error.column),
        (line, column),
        "{source:?}: {error}"
    );
    assert!(
        error.message.contains(message),
        "{source:?}: message {:?}",
        error.message
    );
    let actual = error.hint.as_deref().unwrap_or("");
    assert!(actual.contains(hint), "{source:?}: hint {actual:?}");
    assert_eq!(source[..error.offset].matches('\n').count() + 1, line);
}

#[test]
fn empty_input() {
    fail("", 1, 1, "empty", "write `*`");
    fail("  \n\t", 2, 2, "empty", "write `*`");
}

#[test]
fn bare_words_as_attributes() {
    fail(
        r#"familyName eq "abc""#,
        1,
        1,
        "`familyName` is not an attribute",
        "/event/<resource>/familyName",
    );
    fail(
        "event.customer.id gt 10000",
        1,
        1,
        "not an attribute",
        "`/event/customer/id`",
    );
    fail("id pr", 1, 1, "not an attribute", "write `ID`");
    fail("Op eq \"GET\"", 1, 1, "not an attribute", "write `OP`");
    fail(
        "/a pr and\n  status eq \"x\"",
        2,
        3,
        "`status` is not an attribute",
        "/event/<resource>/status",
    );
    fail(
        r#""eventType" eq "x""#,
        1,
        1,
        "not an attribute",
        "\"/eventType\"",
    );
    fail("10 eq 10", 1, 1, "not an attribute", "JSON Pointer");
}

#[test]
fn bare_words_as_values() {
    fail(
        "OP eq GET",
        1,
        7,
        "`GET` is not a value",
        r#"quote it: "GET""#,
    );
    fail(
        "/eventType eq CustomerCreateEvent",
        1,
        15,
        "not a value",
        r#""CustomerCreateEvent""#,
    );
    fail("/a eq True", 1, 7, "not a value", "write `true`");
    fail("/a eq 007", 1, 7, "not a value", r#"quote it: "007""#);
    fail("/a eq 1.", 1, 7, "not a value", "not a JSON number");
    fail("/a eq /b", 1, 7, "not a value", r#""/b""#);
    fail(
        "/a eq",
        1,
        6,
        "expected a value, found end of input",
        "takes a value",
    );
    fail("(/a eq)", 1, 7, "expected a value, found `)`", "");
}

#[test]
fn several_errors_are_reported_at_once() {
    let errors = invalid("familyName eq \"abc\" and OP eq GET or\n/a co 5");
    let at: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, [(1, 1), (1, 31), (2, 7)]);
    let Err(errors) = parse("x pr and y pr") else {
        panic!()
    };
    assert_eq!(
        errors.to_string(),
        "line 1, column 1: `x` is not an attribute; hint: write a JSON Pointer into the event, e.g. `/event/<resource>/x`; \
         line 1, column 10: `y` is not an attribute; hint: write a JSON Pointer into the event, e.g. `/event/<resource>/y`"
    );
    assert!(invalid(&"x pr and ".repeat(100)).len() <= 20);
}

#[test]
fn not_without_parentheses() {
    fail("not /a eq 1", 1, 1, "`not` needs parentheses", "not (...)");
    fail(
        "/b pr and\n  NOT /a pr",
        2,
        3,
        "`not` needs parentheses",
        "not (...)",
    );
    fail("not not not /a pr", 1, 1, "`not` needs parentheses", "");
}

#[test]
fn extra_outer_quotes() {
    fail(
        r#"""/event/customer/id" gt 10000""#,
        1,
        1,
        "extra pair of quotes",
        r#"drop the outer quotes: "/event/customer/id" gt 10000"#,
    );
    fail(
        r#"  "(/eventType eq "CustomerCreateEvent" or /eventType eq "CustomerDeleteEvent")""#,
        1,
        3,
        "extra pair of quotes",
        "drop the outer quotes: (/eventType",
    );
    fail(
        r#""/a pr""#,
        1,
        1,
        "extra pair of quotes",
        "drop the outer quotes: /a pr",
    );
}

#[test]
fn trailing_input() {
    fail(
        "/a pr /b pr",
        1,
        7,
        "expected `and`, `or` or the end of the criteria, found `/b`",
        "join comparisons",
    );
    fail(r#"/a pr "x""#, 1, 7, "found `\"x\"`", "`pr` takes no value");
    fail("/a pr)", 1, 6, "unmatched `)`", "remove it");
    fail("(/a pr /b pr)", 1, 8, "expected `and`, `or` or `)`", "");
    fail(
        "(/a pr\n  or (/b pr)",
        2,
        13,
        "found end of input",
        "close the `(` opened at line 1, column 1",
    );
}

#[test]
fn operands_missing() {
    fail(
        "/a pr and",
        1,
        10,
        "expected a comparison, `(` or `not (`, found end of input",
        "",
    );
    fail("/a pr or or /b pr", 1, 10, "found `or`", "");
    fail("()", 1, 2, "found `)`", "");
    fail("and /a pr", 1, 1, "found `and`", "");
}

#[test]
fn operators() {
    fail(
        "/a",
        1,
        3,
        "expected an operator, found end of input",
        "eq, ne",
    );
    fail(
        "/a equals 1",
        1,
        4,
        "expected an operator, found `equals`",
        "eq, ne",
    );
    fail("/a = 1", 1, 4, "found `=`", "write `eq`");
    fail("/a >= 1", 1, 4, "found `>=`", "write `ge`");
    fail(
        r#""/event/customer/id gt 10000""#,
        1,
        1,
        "extra pair of quotes",
        "drop the outer quotes",
    );
}

#[test]
fn star_not_alone() {
    fail(
        "* and /a pr",
        1,
        1,
        "`*` must be the whole criteria",
        "cannot be combined",
    );
    fail("/a pr or\n *", 2, 2, "`*` must be the whole criteria", "");
    fail("(*)", 1, 2, "`*` must be the whole criteria", "");
}

#[test]
fn substring_operators_need_strings() {
    fail(
        "/a co 5",
        1,
        7,
        "`co` needs a string value",
        r#"quote it to match text: "5""#,
    );
    fail("/a sw true", 1, 7, "`sw` needs a string value", "");
    fail("/a EW null", 1, 7, "`ew` needs a string value", "");
}

#[test]
fn ordering_operators_refuse_booleans_and_null() {
    fail(
        "/a gt true",
        1,
        7,
        "booleans and null support only `eq` and `ne`",
        "use `eq` or `ne`",
    );
    fail("/a le null", 1, 7, "booleans and null", "");
}

#[test]
fn op_takes_an_http_method() {
    fail(
        r#"OP eq "FETCH""#,
        1,
        7,
        "`OP` is compared with an HTTP method",
        r#"write one of "GET", "POST""#,
    );
    fail(r#"OP eq "get""#, 1, 7, "HTTP method", r#"write "GET""#);
    fail("OP eq 1", 1, 7, "HTTP method", "");
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        super::valid(&format!("OP eq \"{method}\""));
    }
}

#[test]
fn whitespace_is_required_between_tokens() {
    fail(
        r#""/a"eq 1"#,
        1,
        5,
        "expected whitespace before the operator",
        "",
    );
    fail(
        r#"/a eq"x""#,
        1,
        6,
        "expected whitespace before the value",
        "",
    );
    fail(
        r#"/a eq "x"and /b pr"#,
        1,
        10,
        "expected whitespace before `and`",
        "",
    );
    fail(
        r#"/a pr and"/b" pr"#,
        1,
        10,
        "expected whitespace before the operand of `and`",
        "",
    );
}

#[test]
fn malformed_strings_and_pointers() {
    fail(
        r#"/a eq "abc"#,
        1,
        7,
        "unterminated string",
        "close the string",
    );
    fail(r#"/a eq "a\qb""#, 1, 9, "invalid escape `\\q`", "");
    fail("/a eq \"a\tb\"", 1, 9, "control character U+0009", "\\t");
    fail(r#"/a eq "\u12""#, 1, 8, "four hex digits", "");
    fail(r#"/a eq "\ud800x""#, 1, 8, "low surrogate", "");
    fail(
        "/a~2b pr",
        1,
        3,
        "invalid escape `~2` in a JSON Pointer",
        "`~0` for `~`",
    );
    fail("/a/b~ pr", 1, 5, "invalid escape `~`", "");
    fail(r#""/a~x" pr"#, 1, 4, "invalid escape `~x`", "");
}

#[test]
fn columns_count_characters_not_bytes() {
    fail("/é/ü pr and\n/ñ eq ünquoted", 2, 7, "not a value", "");
    let errors = invalid("/é eq x");
    assert_eq!((errors[0].offset, errors[0].column), (7, 7));
}

#[test]
fn too_long() {
    let source = format!("/a eq \"{}\"", "x".repeat(16 * 1024));
    fail(
        &source,
        1,
        16 * 1024 + 1,
        "more than the limit of 16384",
        "",
    );
}

#[test]
fn too_deep_never_overflows() {
    let source = format!(
        "{}/a pr{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    fail(&source, 1, MAX_DEPTH + 1, "nest more than 64 levels", "");
    fail(
        &"not (".repeat(65),
        1,
        5 * 64 + 5,
        "nest more than 64 levels",
        "",
    );
    fail(
        &"(".repeat(16 * 1024),
        1,
        65,
        "nest more than 64 levels",
        "",
    );
    fail(
        &"not(".repeat(4 * 1024),
        1,
        4 * 64 + 4,
        "nest more than 64 levels",
        "",
    );
    let errors = invalid(&"not not (".repeat(1800));
    assert!(errors.len() <= 20 && errors[0].message.contains("`not` needs parentheses"));
    assert_eq!(invalid(&"(".repeat(100_000)).len(), 1, "too long");
    assert_eq!(invalid(&"not (".repeat(100_000)).len(), 1, "too long");
}

#[test]
fn rendering_points_at_the_column() {
    let source = "/a pr and\n  familyName eq \"abc\"";
    let Err(Errors(errors)) = parse(source) else {
        panic!()
    };
    assert_eq!(
        errors[0].render(source),
        "error: `familyName` is not an attribute\n --> line 2, column 3\n  |\n2 |   familyName eq \"abc\"\n  |   ^\n  = hint: write a JSON Pointer into the event, e.g. `/event/<resource>/familyName`"
    );
    let json = serde_json::to_value(&errors[0]).unwrap();
    assert_eq!(json["offset"], 12);
    assert_eq!(json["line"], 2);
    assert_eq!(json["column"], 3);
    assert_eq!(json["found"], "`familyName`");
    assert!(json["expected"].as_str().unwrap().contains("JSON Pointer"));
}
