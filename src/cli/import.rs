//! `cxf-operator import`: one manifest per listener registration and per gatekeeping
//! rule the framework holds, ready for Git, such that applying them makes the operator
//! adopt every object and write nothing to the framework but the credentials a user
//! fills in.
//!
//! How: every manifest carries `cxf.dev/external-id` (the operator adopts instead of
//! creating), its spec is exactly what the framework holds (so the desired object equals
//! the observed one), rules keep the framework's `rule-name` and refer to imported
//! registrations by name, and credentials become references to Secrets. The Secrets are
//! written as stubs listing the keys to fill (never a value) and are left out of
//! `kustomization.yaml`: until a user fills and applies them, the registrations that
//! need them wait, writing nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, ValueEnum};
use cxf_operator::framework::model;
use cxf_operator::resources::gatekeeping_rule::{
    self as rule, GatekeepingRuleSpec, RuleDeletionPolicy, RuleSelector,
};
use cxf_operator::resources::listener_registration::{
    self as listener, ListenerDeletionPolicy, ListenerRegistrationSpec, RegistrationMethod,
};
use cxf_operator::resources::secret_ref::{SecretKeyRef, ValueSource};
use cxf_operator::resources::{EXTERNAL_ID_ANNOTATION, GatekeepingRule, ListenerRegistration};
use cxf_operator::validation::batch::{Document, check_all};
use kube::core::ObjectMeta;
use serde_json::{Value, json};

use super::framework_source::{FrameworkArgs, FrameworkObjects, block_on};

/// Write one manifest per listener registration and gatekeeping rule of a framework
/// (annotated `cxf.dev/external-id`, so the operator adopts them), stub Secrets for
/// their credentials (keys only) and a kustomization.yaml. Reads the framework with
/// list calls only. Exit status: 0 written, 1 error.
#[derive(ClapArgs, Debug)]
#[command(
    after_help = "Example:\n  CXF_CLIENT_ID=ops CXF_CLIENT_SECRET=... cxf-operator import --gateway https://gw.example.com \\\n      --workspace 01 --namespace integrations -o deploy/framework\n\nSee docs/gitops.md."
)]
pub struct Args {
    #[command(flatten)]
    framework: FrameworkArgs,
    /// Directory to write into (created if needed; files of the same name are replaced).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    output_dir: PathBuf,
    /// Namespace of the manifests (and of kustomization.yaml). Default: none, the
    /// namespace `kubectl apply` uses.
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// FrameworkConnection the manifests name (`spec.connectionName`). Default: none,
    /// that is `default`.
    #[arg(long, value_name = "NAME")]
    connection_name: Option<String>,
    /// What deleting an imported ListenerRegistration does on the framework.
    #[arg(long, value_enum, default_value_t = DeletionPolicy::Orphan)]
    listener_deletion_policy: DeletionPolicy,
}

/// `spec.deletionPolicy` of the imported ListenerRegistrations.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum DeletionPolicy {
    /// Leave the registration on the framework (safe while the import is reviewed).
    Orphan,
    /// Delete it with the resource.
    Delete,
}

/// A file to write, relative to the output directory.
#[derive(Debug, PartialEq)]
pub struct File {
    /// Relative path.
    pub path: String,
    /// Contents.
    pub text: String,
}

/// A Secret stub: its file and the keys to fill.
#[derive(Debug, PartialEq)]
pub struct Stub {
    /// Relative path.
    pub path: String,
    /// Keys to fill.
    pub keys: Vec<&'static str>,
}

/// Everything `import` writes.
#[derive(Debug, Default)]
pub struct Import {
    /// Manifests listed in kustomization.yaml.
    pub resources: Vec<File>,
    /// Secret stubs, not listed.
    pub stubs: Vec<(Stub, String)>,
    /// kustomization.yaml.
    pub kustomization: String,
    /// Counts for the summary.
    pub registrations: usize,
    /// Counts for the summary.
    pub rules: usize,
}

/// Options of [`manifests`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `metadata.namespace` and kustomization `namespace`.
    pub namespace: Option<String>,
    /// `spec.connectionName`.
    pub connection_name: Option<String>,
    /// Whether ListenerRegistrations get `deletionPolicy: Orphan`.
    pub orphan_listeners: bool,
}

impl Args {
    /// Runs the command.
    pub fn run(self) -> ExitCode {
        match self.import() {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn import(&self) -> anyhow::Result<String> {
        let objects = block_on(self.framework.list())??;
        let options = Options {
            namespace: self.namespace.clone(),
            connection_name: self.connection_name.clone(),
            orphan_listeners: matches!(self.listener_deletion_policy, DeletionPolicy::Orphan),
        };
        let import = manifests(&objects, &options);
        let dir = &self.output_dir;
        let write = |path: &str, text: &str| -> anyhow::Result<()> {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        };
        for file in &import.resources {
            write(&file.path, &file.text)?;
        }
        for (stub, text) in &import.stubs {
            write(&stub.path, text)?;
        }
        write("kustomization.yaml", &import.kustomization)?;
        Ok(summary(&import, dir))
    }
}

/// A Kubernetes name from a framework id: lower case, `[a-z0-9-]`, at most 63
/// characters, unique among `taken`.
fn name_for(id: &str, fallback: &str, taken: &mut BTreeSet<String>) -> String {
    let name = cxf_operator::resources::dns_label(id, 57);
    let base = if name.is_empty() { fallback } else { &name };
    let mut candidate = base.to_owned();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

fn meta(name: &str, id: &str, options: &Options) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: options.namespace.clone(),
        annotations: Some([(EXTERNAL_ID_ANNOTATION.to_owned(), id.to_owned())].into()),
        ..ObjectMeta::default()
    }
}

fn yaml(value: &impl serde::Serialize) -> String {
    serde_yaml::to_string(value).expect("a manifest serializes")
}

/// The files for `objects` (pure: the command writes them).
pub fn manifests(objects: &FrameworkObjects, options: &Options) -> Import {
    let mut import = Import::default();
    let mut names = BTreeSet::new();
    let mut registration_names: BTreeMap<String, String> = BTreeMap::new();
    for registration in &objects.registrations {
        let Some(id) = registration.id.as_deref() else {
            continue;
        };
        let name = name_for(id, "listener", &mut names);
        registration_names.insert(id.to_owned(), name.clone());
        let secret_name = format!("{name}-credentials");
        let secret = |key: &str| SecretKeyRef {
            name: secret_name.clone(),
            key: key.to_owned(),
        };
        let external = &registration.listener_locality.external_listener;
        let (auth, keys) = match &external.listener_auth {
            None => (None, Vec::new()),
            Some(model::ListenerAuth::OidcClientCredentials(oidc)) => (
                Some(listener::ListenerAuth {
                    oidc_client_credentials: Some(listener::OidcClientCredentials {
                        identity_uri: oidc.identity_uri.clone(),
                        client_id: ValueSource {
                            value: Some(oidc.client_id.clone()),
                            secret_key_ref: None,
                        },
                        client_secret: secret("client-secret"),
                        scope: oidc.scope.clone(),
                    }),
                    basic: None,
                }),
                vec!["client-secret"],
            ),
            Some(model::ListenerAuth::Basic(basic)) => (
                Some(listener::ListenerAuth {
                    oidc_client_credentials: None,
                    basic: Some(listener::BasicAuth {
                        username: ValueSource {
                            value: Some(basic.username.clone()),
                            secret_key_ref: None,
                        },
                        password: secret("password"),
                    }),
                }),
                vec!["password"],
            ),
        };
        let spec = ListenerRegistrationSpec {
            connection_name: options.connection_name.clone(),
            affiliated_apis: registration
                .affiliated_apis
                .iter()
                .map(|api| listener::AffiliatedApi {
                    api_name: api.api_name.clone(),
                    api_number: api.api_number.clone(),
                    api_version: api.api_version.clone(),
                    query: api.query.clone(),
                })
                .collect(),
            listener_url: external.listener_url.clone(),
            auth,
            listener_type: match registration.listener_type {
                model::ListenerType::External => listener::ListenerType::External,
                model::ListenerType::Internal => listener::ListenerType::Internal,
            },
            registration_method: RegistrationMethod::AdminApi,
            deletion_policy: if options.orphan_listeners {
                ListenerDeletionPolicy::Orphan
            } else {
                ListenerDeletionPolicy::Delete
            },
        };
        let mut resource = ListenerRegistration::new(&name, spec);
        resource.metadata = meta(&name, id, options);
        import.resources.push(File {
            path: format!("listener-registrations/{name}.yaml"),
            text: yaml(&resource),
        });
        import.registrations += 1;
        if !keys.is_empty() {
            let stub = Stub {
                path: format!("secrets/{secret_name}.yaml"),
                keys,
            };
            let text = secret_stub(&secret_name, &stub.keys, id, options);
            import.stubs.push((stub, text));
        }
    }
    for framework_rule in &objects.rules {
        let Some(id) = framework_rule.id.as_deref() else {
            continue;
        };
        let name = name_for(id, "rule", &mut names);
        let spec = GatekeepingRuleSpec {
            connection_name: options.connection_name.clone(),
            selector: RuleSelector {
                id: Some(id.to_owned()),
                endpoint_name: None,
            },
            rule_name: Some(framework_rule.rule_name.clone()),
            external_event_emitter_identification: framework_rule
                .external_event_emitter_identification
                .clone(),
            gatekeeping_apis: framework_rule
                .gatekeeping_apis
                .iter()
                .map(|api| rule::GatekeepingApi {
                    api_id: api.api_id.clone(),
                    api_name: api.api_name.clone(),
                    api_version: api.api_version.clone(),
                    api_resources: api
                        .api_resources
                        .iter()
                        .map(|r| rule::ApiResource {
                            resource_name: r.resource_name.clone(),
                            criteria: r.gatekeeping_criteria.criteria.clone(),
                            rank: r.gatekeeping_criteria.rank,
                        })
                        .collect(),
                })
                .collect(),
            listener_registration_refs: Some(
                framework_rule
                    .listener_registration_refs
                    .iter()
                    .map(|listener_id| match registration_names.get(listener_id) {
                        Some(name) => rule::ListenerRef {
                            name: Some(name.clone()),
                            id: None,
                        },
                        None => rule::ListenerRef {
                            name: None,
                            id: Some(listener_id.clone()),
                        },
                    })
                    .collect(),
            ),
            destination_selection: Some(
                framework_rule
                    .destination_selection
                    .iter()
                    .map(|d| rule::DestinationSelection {
                        api_id: d.api_id.clone(),
                        api_version: d.api_version.clone(),
                        criteria: d.criteria.clone(),
                        description: d.description.clone(),
                        include_in_sparse_query_results: d.include_in_sparse_query_results,
                    })
                    .collect(),
            ),
            deletion_policy: RuleDeletionPolicy::Orphan,
        };
        let mut resource = GatekeepingRule::new(&name, spec);
        resource.metadata = meta(&name, id, options);
        import.resources.push(File {
            path: format!("gatekeeping-rules/{name}.yaml"),
            text: yaml(&resource),
        });
        import.rules += 1;
    }
    let mut kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": import.resources.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
    });
    if let Some(namespace) = &options.namespace {
        kustomization["namespace"] = json!(namespace);
    }
    import.kustomization = format!(
        "# Written by `cxf-operator import`. The Secret stubs in secrets/ are not listed:\n# fill them in and apply them apart (or create the Secrets with your secret manager).\n{}",
        yaml(&kustomization)
    );
    import
}

fn secret_stub(name: &str, keys: &[&str], id: &str, options: &Options) -> String {
    let mut text = format!(
        "# The credentials of listener registration {id}, which the framework never shows.\n\
         # Fill in each key, then apply this Secret apart from kustomization.yaml (or create\n\
         # it with your secret manager). Do not commit the filled-in file.\n"
    );
    let mut metadata = json!({"name": name});
    if let Some(namespace) = &options.namespace {
        metadata["namespace"] = json!(namespace);
    }
    let data: serde_json::Map<String, Value> =
        keys.iter().map(|k| ((*k).to_owned(), json!(""))).collect();
    text += &yaml(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": data,
    }));
    text
}

fn summary(import: &Import, dir: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Wrote to {}:", dir.display());
    let _ = writeln!(
        out,
        "  {} ListenerRegistration(s) in listener-registrations/",
        import.registrations
    );
    let _ = writeln!(
        out,
        "  {} GatekeepingRule(s) in gatekeeping-rules/ (deletionPolicy: Orphan)",
        import.rules
    );
    let _ = writeln!(out, "  kustomization.yaml listing them");
    if import.stubs.is_empty() {
        let _ = writeln!(out, "No credentials to fill in.");
    } else {
        let _ = writeln!(
            out,
            "{} Secret stub(s) to fill in and apply yourself (not in kustomization.yaml):",
            import.stubs.len()
        );
        for (stub, _) in &import.stubs {
            let _ = writeln!(out, "  {}: {}", stub.path, stub.keys.join(", "));
        }
    }
    let documents: Vec<Document> = import
        .resources
        .iter()
        .flat_map(|file| {
            serde_yaml::from_str::<Value>(&file.text)
                .ok()
                .map(|value| Document {
                    file: file.path.clone(),
                    index: 1,
                    value,
                })
        })
        .collect();
    for report in check_all(&documents) {
        for finding in report.findings {
            let _ = writeln!(
                out,
                "warning: {} {}: {} (the framework holds this; fix it before applying)",
                report.file, finding.field, finding.message
            );
        }
    }
    let _ = writeln!(
        out,
        "Every manifest carries {EXTERNAL_ID_ANNOTATION}: `kubectl apply -k {}` makes the operator adopt each object; it writes nothing to the framework but the credentials you fill in.",
        dir.display()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> FrameworkObjects {
        FrameworkObjects {
            registrations: serde_json::from_value(json!([
                {"id": "listener-registrationab12c", "type": "external",
                 "affiliated-apis": [{"api-name": "Party", "api-version": "v4", "query": "ID pr"}],
                 "listener-locality": {"external-listener": {"listener-url": "http://crm.example/events",
                    "listener-auth": {"oidc-client-credentials": {"identity-uri": "https://idp.example/token",
                        "client-id": "crm", "client-secret": "****", "scope": "events"}}}}},
                {"id": "Listener_2", "type": "external",
                 "affiliated-apis": [{"api-name": "Party", "api-version": "v4"}],
                 "listener-locality": {"external-listener": {"listener-url": "http://b.example"}}}
            ]))
            .unwrap(),
            rules: serde_json::from_value(json!([
                {"id": "gkr-siebel", "rule-name": "Generated", "endpoint-name": "siebel", "owner": "tenant",
                 "listener-registration-refs": ["Listener_2", "elsewhere"],
                 "gatekeeping-apis": [{"api-id": "tmf-632", "api-name": "Party", "api-version": "v4",
                    "api-resources": [{"resource-name": "Individual", "gatekeeping-criteria": {"criteria": "*", "rank": 0}}]}]}
            ]))
            .unwrap(),
        }
    }

    #[test]
    fn every_object_becomes_an_adopting_manifest_and_no_secret_value_is_written() {
        let options = Options {
            namespace: Some("integrations".into()),
            connection_name: None,
            orphan_listeners: true,
        };
        let import = manifests(&objects(), &options);
        let paths: Vec<&str> = import.resources.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "listener-registrations/listener-registrationab12c.yaml",
                "listener-registrations/listener-2.yaml",
                "gatekeeping-rules/gkr-siebel.yaml"
            ]
        );
        let crm: Value = serde_yaml::from_str(&import.resources[0].text).unwrap();
        assert_eq!(
            crm["metadata"]["annotations"][EXTERNAL_ID_ANNOTATION],
            "listener-registrationab12c"
        );
        assert_eq!(crm["metadata"]["namespace"], "integrations");
        assert_eq!(
            crm["spec"]["auth"]["oidcClientCredentials"]["clientSecret"],
            json!({"name": "listener-registrationab12c-credentials", "key": "client-secret"})
        );
        assert_eq!(crm["spec"]["deletionPolicy"], "Orphan");
        let rule: Value = serde_yaml::from_str(&import.resources[2].text).unwrap();
        assert_eq!(rule["spec"]["selector"], json!({"id": "gkr-siebel"}));
        assert_eq!(rule["spec"]["deletionPolicy"], "Orphan");
        assert_eq!(
            rule["spec"]["listenerRegistrationRefs"],
            json!([{"name": "listener-2"}, {"id": "elsewhere"}])
        );
        assert_eq!(import.stubs.len(), 1);
        let (stub, text) = &import.stubs[0];
        assert_eq!(stub.keys, ["client-secret"]);
        let secret: Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(secret["stringData"], json!({"client-secret": ""}));
        let kustomization: Value = serde_yaml::from_str(&import.kustomization).unwrap();
        assert_eq!(kustomization["namespace"], "integrations");
        assert_eq!(kustomization["resources"].as_array().unwrap().len(), 3);
        assert!(!kustomization["resources"].to_string().contains("secrets/"));
        let everything: String = import
            .resources
            .iter()
            .map(|f| f.text.as_str())
            .chain(import.stubs.iter().map(|(_, t)| t.as_str()))
            .collect();
        assert!(!everything.contains("****"), "no masked value is copied");
    }
}
