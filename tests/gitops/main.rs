//! `cxf-operator route`, `import` and `plan` as a user runs them: the binary against the
//! simulator process, and (import, plan) the operator running on a real control plane
//! (tests/support) through the operator tests' environment (tests/operator/env.rs).

#[path = "../support/mod.rs"]
mod support;

mod ci_snippets;
mod cli;
// The operator tests' environment (namespace, simulator, connection, controllers);
// this binary uses part of it.
#[allow(dead_code)]
#[path = "../operator/env.rs"]
mod env;
mod import;
mod plan;
mod route;
