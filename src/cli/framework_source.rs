//! What `plan`, `import` and `route` read: the live framework (through the admin API
//! client, list calls only) and manifests (files, directories, `-`, multi-document).
//!
//! Credentials for the framework come from the `--connection` file or from environment
//! variables, never from arguments (they would show in `ps` and in CI logs):
//! `CXF_CLIENT_ID` + `CXF_CLIENT_SECRET` (OAuth client credentials, token URL
//! `CXF_TOKEN_URL` or `<gateway>/oauth2/token`, scope `CXF_SCOPE`), or
//! `CXF_BEARER_TOKEN`. A value in the file wins over the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use cxf_operator::admin::{self, AdminClient, ClientConfig, Credentials};
use cxf_operator::framework::model::{GatekeepingRule, ListenerRegistration, SecretValue};
use cxf_operator::metrics::AdminMetrics;
use cxf_operator::validation::batch::Document;
use serde::Deserialize;

use super::validate::{InputError, files, read_documents};

/// Where the framework is: a connection file, or a gateway URL and workspace (the
/// credentials then come from the environment).
#[derive(ClapArgs, Debug, Default)]
pub struct FrameworkArgs {
    /// A connection file (YAML or JSON): `gatewayUrl`, `workspace`, and credentials
    /// (`clientId`/`clientSecret`/`tokenUrl`/`scope`, or `bearerToken`), `caBundle`.
    /// Secrets left out are read from CXF_CLIENT_SECRET / CXF_BEARER_TOKEN.
    #[arg(long, value_name = "FILE", conflicts_with = "gateway")]
    pub connection: Option<PathBuf>,
    /// The framework's gateway URL (credentials from CXF_CLIENT_ID + CXF_CLIENT_SECRET,
    /// or CXF_BEARER_TOKEN).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Workspace path segment (overrides the connection file's).
    #[arg(long, value_name = "WS")]
    pub workspace: Option<String>,
}

/// The `--connection` file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectionFile {
    gateway_url: String,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<SecretValue>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    bearer_token: Option<SecretValue>,
    #[serde(default)]
    ca_bundle: Option<String>,
}

/// What the framework holds, as the list calls answer.
#[derive(Clone, Debug, Default)]
pub struct FrameworkObjects {
    /// Every listener registration.
    pub registrations: Vec<ListenerRegistration>,
    /// Every gatekeeping rule.
    pub rules: Vec<GatekeepingRule>,
}

impl FrameworkArgs {
    /// Whether a framework was given at all.
    pub fn is_given(&self) -> bool {
        self.connection.is_some() || self.gateway.is_some()
    }

    /// The admin API client for the framework these arguments name.
    pub fn client(&self) -> anyhow::Result<AdminClient> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let file = match (&self.connection, &self.gateway) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the connection file {}", path.display()))?;
                serde_yaml::from_str::<ConnectionFile>(&text)
                    .with_context(|| format!("parsing the connection file {}", path.display()))?
            }
            (None, Some(gateway)) => ConnectionFile {
                gateway_url: gateway.clone(),
                ..ConnectionFile::default()
            },
            (None, None) => bail!("no framework: pass --connection FILE or --gateway URL"),
        };
        let gateway_url = file.gateway_url.trim_end_matches('/').to_owned();
        let bearer = file
            .bearer_token
            .or_else(|| env("CXF_BEARER_TOKEN").map(SecretValue::new));
        let client_id = file.client_id.or_else(|| env("CXF_CLIENT_ID"));
        let credentials = match (client_id, bearer) {
            (Some(client_id), _) => Credentials::OAuth {
                token_url: file
                    .token_url
                    .or_else(|| env("CXF_TOKEN_URL"))
                    .unwrap_or_else(|| format!("{gateway_url}/oauth2/token")),
                client_id,
                client_secret: file
                    .client_secret
                    .or_else(|| env("CXF_CLIENT_SECRET").map(SecretValue::new))
                    .context("no client secret: set clientSecret in the connection file or CXF_CLIENT_SECRET")?,
                scope: file.scope.or_else(|| env("CXF_SCOPE")),
            },
            (None, Some(token)) => Credentials::Bearer(token),
            (None, None) => bail!(
                "no credentials for the framework: set CXF_CLIENT_ID and CXF_CLIENT_SECRET, or CXF_BEARER_TOKEN, or put them in the --connection file"
            ),
        };
        let config = ClientConfig {
            gateway_url,
            workspace: self.workspace.clone().or(file.workspace),
            credentials,
            ca_bundle: file.ca_bundle,
            requests_per_second: admin::DEFAULT_REQUESTS_PER_SECOND * 4,
            rule_update_verb: Default::default(),
        };
        AdminClient::new(config, AdminMetrics::default()).context("building the admin API client")
    }

    /// Lists every registration and rule (two list calls, nothing else).
    pub async fn list(&self) -> anyhow::Result<FrameworkObjects> {
        let client = self.client()?;
        let registrations = client.list_registrations(&[]).await?;
        let rules = client.list_rules().await?;
        Ok(FrameworkObjects {
            registrations,
            rules,
        })
    }
}

/// Every document under `paths` (as `validate` reads them), or the first read error.
pub fn read_manifests(paths: &[PathBuf]) -> anyhow::Result<Vec<Document>> {
    let mut unreadable: Vec<InputError> = Vec::new();
    let mut documents = Vec::new();
    for path in paths {
        for file in files(path, &mut unreadable) {
            match read_documents(&file) {
                Ok(mut docs) => documents.append(&mut docs),
                Err(e) => unreadable.push(e),
            }
        }
    }
    match unreadable.into_iter().next() {
        Some(error) => Err(error.into()),
        None => Ok(documents),
    }
}

/// A runtime for one command.
pub fn block_on<T>(future: impl Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Reads a JSON or YAML file (`-`: stdin).
pub fn read_value(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}
