//! The `cxf-operator` subcommands: argument parsing and exit codes, each in its own
//! file, calling into the library.

pub mod crds;
pub mod criteria;
pub mod framework_source;
pub mod import;
pub mod plan;
pub mod route;
pub mod run;
pub mod simulator;
pub mod validate;
