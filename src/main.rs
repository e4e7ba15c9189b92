#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// Declarative listener registrations and gatekeeping rules for the CX Industries
/// Framework, as Kubernetes resources.
#[derive(Parser)]
#[command(name = "cxf-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (multi-document YAML).
    Crds(cli::crds::Args),
    /// Check, evaluate and format Gatekeeper Criteria expressions.
    Criteria(cli::criteria::Args),
    /// Write manifests for what a framework holds, ready for Git.
    Import(cli::import::Args),
    /// Show what applying manifests would do on the framework (read-only).
    Plan(cli::plan::Args),
    /// Show where an event goes: its gatekeeper and its listeners.
    Route(Box<cli::route::Args>),
    /// Run the controllers.
    Run(Box<cli::run::Args>),
    /// Run a local simulator of the framework's admin API.
    Simulator(Box<cli::simulator::Args>),
    /// Validate cxf.dev manifests offline, as the admission webhook would.
    Validate(cli::validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds(args) => args.run(),
        Command::Criteria(args) => args.run(),
        Command::Import(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Route(args) => args.run(),
        Command::Run(args) => args.run(),
        Command::Simulator(args) => args.run(),
        Command::Validate(args) => args.run(),
    }
}
