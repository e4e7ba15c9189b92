//! `cxf-operator crds`: prints the CustomResourceDefinitions (multi-document YAML), or
//! writes them to a directory, one file per CRD (how `crds/` is generated).

use std::path::PathBuf;
use std::process::ExitCode;

use cxf_operator::resources;

/// Print the CRDs of all resources, as `kubectl apply -f -` takes them.
#[derive(clap::Args)]
pub struct Args {
    /// Write one file per CRD into this directory instead of printing them.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
}

impl Args {
    pub fn run(self) -> ExitCode {
        let Self { output_dir } = self;
        let mut documents = Vec::new();
        for (file, crd) in resources::crds() {
            let yaml = match resources::crd_yaml(&crd) {
                Ok(yaml) => yaml,
                Err(error) => {
                    eprintln!("error: serializing the CRD {file}: {error}");
                    return ExitCode::FAILURE;
                }
            };
            documents.push((file, yaml));
        }
        match output_dir {
            None => {
                let all: Vec<String> = documents.into_iter().map(|(_, yaml)| yaml).collect();
                print!("---\n{}", all.join("---\n"));
            }
            Some(dir) => {
                for (file, yaml) in documents {
                    let path = dir.join(file);
                    if let Err(error) = std::fs::write(&path, yaml) {
                        eprintln!("error: writing {}: {error}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        ExitCode::SUCCESS
    }
}
