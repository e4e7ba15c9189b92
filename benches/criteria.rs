//! Parsing and evaluation speed of the criteria engine, against the `scim-filter`
//! crate on the same expressions (rewritten to SCIM's dotted paths).
//!
//! `cargo bench --bench criteria` runs criterion, then prints a summary table of
//! expressions parsed per second and pre-parsed evaluations per second, read back from
//! criterion's estimates.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use cxf_operator::criteria::{self, Event};
use serde_json::{Value, json};

/// An expression, built once and written in both syntaxes.
enum Gen {
    /// A comparison of a path under the envelope with a value (already JSON text).
    Compare(&'static [&'static str], &'static str, String),
    And(Vec<Gen>),
    Or(Vec<Gen>),
}

impl Gen {
    /// Our syntax: JSON Pointers, every group parenthesized.
    fn ours(&self) -> String {
        self.write(&|path| format!("/{}", path.join("/")))
    }

    /// SCIM's syntax: dotted paths, every group parenthesized.
    fn scim(&self) -> String {
        self.write(&|path| path.join("."))
    }

    fn write(&self, path: &dyn Fn(&[&str]) -> String) -> String {
        let join = |operands: &[Gen], op: &str| {
            operands
                .iter()
                .map(|g| match g {
                    Gen::Compare(..) => g.write(path),
                    _ => format!("({})", g.write(path)),
                })
                .collect::<Vec<_>>()
                .join(op)
        };
        match self {
            Self::Compare(p, op, value) => format!("{} {op} {value}", path(p)),
            Self::And(operands) => join(operands, " and "),
            Self::Or(operands) => join(operands, " or "),
        }
    }
}

/// The envelope's `event` fields `f0` to `f9`, holding `"v0"` to `"v9"`.
const FIELDS: [[&str; 2]; 10] = [
    ["event", "f0"],
    ["event", "f1"],
    ["event", "f2"],
    ["event", "f3"],
    ["event", "f4"],
    ["event", "f5"],
    ["event", "f6"],
    ["event", "f7"],
    ["event", "f8"],
    ["event", "f9"],
];

fn field(i: usize) -> &'static [&'static str] {
    &FIELDS[i % 10]
}

/// 2 comparisons.
fn small() -> Gen {
    Gen::And(vec![
        Gen::Compare(
            &["eventType"],
            "eq",
            json!("CustomerCreateEvent").to_string(),
        ),
        Gen::Compare(&["event", "customerId"], "gt", "10000".to_owned()),
    ])
}

/// 10 comparisons.
fn medium() -> Gen {
    let mut operands = vec![Gen::Or(vec![
        Gen::Compare(
            &["eventType"],
            "eq",
            json!("CustomerDeleteEvent").to_string(),
        ),
        Gen::Compare(
            &["eventType"],
            "eq",
            json!("CustomerCreateEvent").to_string(),
        ),
    ])];
    operands
        .extend((0..7).map(|i| Gen::Compare(field(i), "eq", json!(format!("v{i}")).to_string())));
    operands.push(Gen::Compare(
        &["event", "customerId"],
        "gt",
        "10000".to_owned(),
    ));
    Gen::And(operands)
}

/// 100 comparisons, nested three levels: an `and` of 10 `or`s, each of a 5-way `and`
/// that fails at its last comparison and 5 comparisons of which the last matches.
fn large() -> Gen {
    Gen::And(
        (0..10)
            .map(|i| {
                let failing = Gen::And(
                    (0..5)
                        .map(|j| {
                            let value = if j == 4 {
                                format!("x{i}")
                            } else {
                                format!("v{}", (i + j) % 10)
                            };
                            Gen::Compare(field(i + j), "eq", json!(value).to_string())
                        })
                        .collect(),
                );
                let mut operands = vec![failing];
                operands.extend(
                    (0..4)
                        .map(|j| Gen::Compare(field(i), "eq", json!(format!("w{j}")).to_string())),
                );
                operands.push(Gen::Compare(
                    field(i),
                    "eq",
                    json!(format!("v{i}")).to_string(),
                ));
                Gen::Or(operands)
            })
            .collect(),
    )
}

fn envelope() -> Value {
    let mut event = serde_json::Map::new();
    for (i, [_, name]) in FIELDS.iter().enumerate() {
        event.insert((*name).to_owned(), json!(format!("v{i}")));
    }
    event.insert("customerId".to_owned(), json!(20000));
    json!({"eventType": "CustomerCreateEvent", "event": event})
}

/// One benchmark input in both syntaxes.
struct Case {
    name: &'static str,
    ours: String,
    scim: String,
}

fn cases() -> Vec<Case> {
    [("small", small()), ("medium", medium()), ("large", large())]
        .into_iter()
        .map(|(name, expr)| Case {
            name,
            ours: expr.ours(),
            scim: expr.scim(),
        })
        .collect()
}

fn parse_scim(text: &str) -> scim_filter::parser::Filter<'_> {
    match scim_filter::parser::filter(text) {
        Ok(("", filter)) => filter,
        other => panic!("scim-filter does not parse {text:?}: {other:?}"),
    }
}

fn bench(c: &mut Criterion, cases: &[Case], envelope: &Value) {
    let event = Event {
        envelope,
        ids: &[],
        op: Some("POST"),
        ms: None,
    };
    let mut parse = c.benchmark_group("parse");
    for case in cases {
        parse.bench_with_input(BenchmarkId::new("cxf", case.name), &case.ours, |b, text| {
            b.iter(|| criteria::parse(black_box(text)).expect("valid"))
        });
        parse.bench_with_input(
            BenchmarkId::new("scim-filter", case.name),
            &case.scim,
            |b, text| b.iter(|| parse_scim(black_box(text))),
        );
    }
    parse.finish();
    let mut eval = c.benchmark_group("evaluate");
    for case in cases {
        let ours = criteria::parse(&case.ours).expect("valid");
        let scim = parse_scim(&case.scim);
        assert!(ours.evaluate(&event), "{} matches its event", case.ours);
        assert!(
            scim.r#match(envelope).expect("scim-filter evaluates"),
            "{} matches its event",
            case.scim
        );
        eval.bench_function(BenchmarkId::new("cxf", case.name), |b| {
            b.iter(|| black_box(&ours).evaluate(black_box(&event)))
        });
        eval.bench_function(BenchmarkId::new("scim-filter", case.name), |b| {
            b.iter(|| {
                black_box(&scim)
                    .r#match(black_box(envelope))
                    .expect("evaluates")
            })
        });
    }
    eval.finish();
}

/// The mean time of one iteration, in nanoseconds, from criterion's estimates.
fn mean_ns(dir: &Path, group: &str, function: &str, case: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(function)
        .join(case)
        .join("new/estimates.json");
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn summary(dir: &Path, cases: &[Case]) {
    let rate = |group, function, case| mean_ns(dir, group, function, case).map(|ns| 1e9 / ns);
    let cell = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
    println!("\nSummary (from {}):", dir.display());
    println!(
        "{:<8} {:>6} | {:>14} {:>14} {:>7} | {:>14} {:>14} {:>7}",
        "case",
        "bytes",
        "cxf parse/s",
        "scim parse/s",
        "ratio",
        "cxf eval/s",
        "scim eval/s",
        "ratio"
    );
    for case in cases {
        let (p1, p2) = (
            rate("parse", "cxf", case.name),
            rate("parse", "scim-filter", case.name),
        );
        let (e1, e2) = (
            rate("evaluate", "cxf", case.name),
            rate("evaluate", "scim-filter", case.name),
        );
        let ratio = |a: Option<f64>, b: Option<f64>| {
            a.zip(b)
                .map_or_else(|| "-".to_owned(), |(a, b)| format!("{:.1}x", a / b))
        };
        println!(
            "{:<8} {:>6} | {:>14} {:>14} {:>7} | {:>14} {:>14} {:>7}",
            case.name,
            case.ours.len(),
            cell(p1),
            cell(p2),
            ratio(p1, p2),
            cell(e1),
            cell(e2),
            ratio(e1, e2)
        );
    }
}

fn main() {
    let dir: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("criterion");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .output_directory(&dir)
        .configure_from_args();
    let cases = cases();
    let envelope = envelope();
    bench(&mut c, &cases, &envelope);
    c.final_summary();
    // `cargo test --all-targets` runs each benchmark once, measuring nothing.
    if std::env::args().any(|arg| arg == "--bench") {
        summary(&dir, &cases);
    }
}
