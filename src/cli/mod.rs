//! The `cxf-operator` subcommands: argument parsing and exit codes, each in its own
//! file, calling into the library.

pub mod crds;
pub mod criteria;
pub mod run;
pub mod simulator;
pub mod validate;
