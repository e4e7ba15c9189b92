//! `cxf-operator route`, `import` and `plan` as a user runs them: the binary against the
//! simulator process, and (import, plan) the operator running on a real control plane
//! (tests/support) through the operator tests' environment (tests/operator/env.rs).

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod route;
