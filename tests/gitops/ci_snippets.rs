//! The CI snippets of docs/gitops.md (GitHub Actions, GitLab CI, the Argo CD PreSync
//! hook), taken out of the page and run as their CI runs them: the scripts as written,
//! with only the gateway, the repository URL, the clone's target and the credentials
//! put in. `kustomize` is the real one (`kubectl kustomize`), `cxf-operator` the built
//! binary against a simulator process; `gh` and `curl` are recorded instead of called;
//! the hook's `plan --cluster` reads the test's cluster as the ServiceAccount of the
//! page's RBAC block.
//!
//! For each snippet: an overlay with a change passes and posts the plan, an invalid
//! manifest fails, and an overlay that does not render fails (a render piped into
//! `plan -f -` would plan an empty input and pass).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value as Yaml;

use crate::cli::{CLIENT_ID, CLIENT_SECRET, Simulator};
use crate::support;

const DOC: &str = include_str!("../../docs/gitops.md");
/// The snippets' gateway and Git repository, replaced by the test's.
const GATEWAY: &str = "https://gw.example.com";
const REPOSITORY: &str = "https://git.example.com/platform/integrations.git";
/// The example the test's repository holds as its `deploy/overlays/prod`.
const EXAMPLE: &str = "examples/customer-events-listener";
const PR_NUMBER: &str = "7";
const ARGO_HOOK: &str = "### Argo CD: a PreSync hook";

/// A kubeconfig of the hook's ServiceAccount, as the page's RBAC block (the second
/// block under the hook's heading) makes it, in the example's namespace: the hook's
/// `plan --cluster` reads the manifests' resources with it.
async fn hook_kubeconfig(dir: &Path) -> PathBuf {
    let cluster = support::control_plane();
    let namespace = "cxf-example-customer-events-listener";
    let rbac = dir.join("hook-rbac.yaml");
    std::fs::write(
        &rbac,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\n{}",
            blocks_under(ARGO_HOOK)
                .get(1)
                .expect("the hook's RBAC block")
        ),
    )
    .unwrap();
    cluster
        .kubectl(&["apply", "-n", namespace, "-f", rbac.to_str().unwrap()])
        .await;
    let token = cluster
        .kubectl(&["create", "token", "cxf-plan", "-n", namespace])
        .await;
    let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let mut config: Yaml = serde_yaml::from_str(&admin).unwrap();
    config["users"][0]["user"] = serde_yaml::from_str(&format!("token: {}", token.trim())).unwrap();
    let path = dir.join("hook-kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

/// What the pull request changes in the overlay.
#[derive(Clone, Copy, Debug)]
enum Overlay {
    /// The example as it is: one ListenerRegistration to create (plan exits 2).
    Change,
    /// The example with a query that does not parse (plan exits 1).
    Invalid,
    /// The example's kustomization naming a file that is not there.
    Unrenderable,
}

/// The YAML blocks of the section of docs/gitops.md under `heading`, as written.
fn blocks_under(heading: &str) -> Vec<&'static str> {
    let start = DOC
        .find(heading)
        .unwrap_or_else(|| panic!("docs/gitops.md has no heading {heading:?}"))
        + heading.len();
    let section = &DOC[start..];
    // Up to the next heading (a `#` line inside a block is a comment: headings here
    // are `##` and `###`).
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|heading| section.find(heading))
        .min()
        .unwrap_or(section.len());
    let section = &section[..end];
    section
        .split("```yaml\n")
        .skip(1)
        .map(|block| &block[..block.find("\n```\n").expect("the block's end") + 1])
        .collect()
}

/// The first YAML block under `heading`, parsed.
fn block_under(heading: &str) -> Yaml {
    let block = blocks_under(heading)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no yaml block under {heading:?}"));
    serde_yaml::from_str(block)
        .unwrap_or_else(|e| panic!("the yaml block under {heading:?} does not parse: {e}"))
}

fn text<'a>(value: &'a Yaml, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

/// The test's world: a Git repository holding the overlay, shims first on `PATH`, a
/// record directory for `gh` and `curl`, and the simulator.
struct World {
    dir: tempfile::TempDir,
    path: std::ffi::OsString,
    sim: Simulator,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shims = dir.path().join("bin");
        std::fs::create_dir_all(&shims).unwrap();
        std::fs::create_dir_all(dir.path().join("record")).unwrap();
        let kubectl = support::tools_dir().join("kubectl");
        shim(
            &shims,
            "kustomize",
            &format!(
                "[ \"$1\" = build ] || {{ echo \"kustomize shim: only build\" >&2; exit 64; }}\n\
                 shift\nexec '{}' kustomize \"$@\"\n",
                kubectl.display()
            ),
        );
        // One line per call: the arguments, separated by tabs; curl's stdin is its body.
        let record = dir.path().join("record");
        shim(
            &shims,
            "gh",
            &format!(
                "(IFS='\t'; echo \"$*\") >> '{0}/gh'\n\
                 while [ $# -gt 0 ]; do [ \"$1\" = --body-file ] && cp \"$2\" '{0}/gh.body'; shift; done\n",
                record.display()
            ),
        );
        shim(
            &shims,
            "curl",
            &format!(
                "(IFS='\t'; echo \"$*\") >> '{0}/curl'\ncat > '{0}/curl.body'\n",
                record.display()
            ),
        );
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_cxf-operator"),
            shims.join("cxf-operator"),
        )
        .unwrap();
        let path = std::env::join_paths(std::iter::once(shims).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap();
        Self {
            dir,
            path,
            sim: Simulator::start().await,
        }
    }

    /// A fresh repository (branch `main`) holding the overlay, and a directory per run.
    fn repository(&self, overlay: Overlay) -> PathBuf {
        let root = self.dir.path().join(format!("{overlay:?}"));
        let prod = root.join("integrations/deploy/overlays/prod");
        std::fs::create_dir_all(&prod).unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
        for entry in std::fs::read_dir(&example).unwrap() {
            let entry = entry.unwrap();
            let content = std::fs::read_to_string(entry.path()).unwrap();
            let content = match (overlay, entry.file_name().to_str().unwrap()) {
                (Overlay::Invalid, "listener.yaml") => changed(
                    &content,
                    "\"/event/customer/id\" gt 10000",
                    "\"/event/customer/id\" gt",
                ),
                (Overlay::Unrenderable, "kustomization.yaml") => changed(
                    &content,
                    "  - listener.yaml\n",
                    "  - listener.yaml\n  - patches.yaml\n",
                ),
                _ => content,
            };
            std::fs::write(prod.join(entry.file_name()), content).unwrap();
        }
        let repository = root.join("integrations");
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "."],
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-qm",
                "prod",
            ],
        ] {
            expect_success(
                Command::new("git")
                    .args(args)
                    .current_dir(&repository)
                    .output(),
                "git",
            );
        }
        repository
    }

    fn record(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("record").join(name)).ok()
    }

    fn clear_record(&self) {
        for name in ["gh", "gh.body", "curl", "curl.body"] {
            let _ = std::fs::remove_file(self.dir.path().join("record").join(name));
        }
    }

    /// `git clone` of the repository into a directory of its own, as a CI checkout.
    fn checkout(&self, repository: &Path, name: &str) -> PathBuf {
        let target = repository.parent().unwrap().join(name);
        expect_success(
            Command::new("git")
                .args(["clone", "-q"])
                .arg(repository)
                .arg(&target)
                .output(),
            "git clone",
        );
        target
    }

    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.dir.path())
            .env("CXF_CLIENT_ID", CLIENT_ID)
            .env("CXF_CLIENT_SECRET", CLIENT_SECRET);
        command
    }

    fn script(&self, script: &str) -> String {
        assert!(script.contains(GATEWAY), "the snippet names no gateway");
        script.replace(GATEWAY, &self.sim.base)
    }
}

fn changed(content: &str, from: &str, to: &str) -> String {
    assert!(content.contains(from), "{EXAMPLE} has no {from:?}");
    content.replace(from, to)
}

fn shim(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn expect_success(output: std::io::Result<Output>, what: &str) {
    let output = output.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what}: {}", shown(&output));
}

fn shown(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a CI run of a snippet did: whether the check passed, its output, and what it
/// posted to the pull request (if anything).
#[derive(Debug)]
struct Check {
    passed: bool,
    output: String,
    posted: Option<String>,
}

/// The GitHub Actions job: its `Plan` step under GitHub's default shell for `run`
/// (`bash -e {0}`), then, when the plan step set its `code` output (the step's `if`),
/// the `Comment` step with the expressions it uses filled in.
fn github(world: &World, repository: &Path) -> (Check, Option<String>) {
    let workflow = block_under("### Comment the plan on a pull request (GitHub Actions)");
    let steps = workflow["jobs"]["plan"]["steps"]
        .as_sequence()
        .expect("jobs.plan.steps");
    let step = |name: &str| {
        steps
            .iter()
            .find(|step| step["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no step {name:?}"))
    };
    let plan = step("Plan");
    let env: BTreeMap<String, Yaml> = serde_yaml::from_value(plan["env"].clone()).unwrap();
    assert_eq!(
        env.keys().collect::<Vec<_>>(),
        ["CXF_CLIENT_ID", "CXF_CLIENT_SECRET"],
        "the plan step's credentials"
    );
    let checkout = world.checkout(repository, "github");
    let outputs = checkout.join("github-output");
    std::fs::write(&outputs, "").unwrap();
    let run = |script: &str, file: &str| {
        let path = checkout.join(file);
        std::fs::write(&path, script).unwrap();
        world
            .command("bash", &checkout)
            .arg("-e")
            .arg(&path)
            .env("GITHUB_OUTPUT", &outputs)
            .env("GH_TOKEN", "t")
            .output()
            .unwrap()
    };
    let planned = run(
        &world.script(text(&plan["run"], "the plan step's run")),
        "plan.sh",
    );
    let code = std::fs::read_to_string(&outputs)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("code=").map(str::to_owned));
    let comment = step("Comment");
    assert_eq!(
        text(&comment["if"], "the comment step's if"),
        "always() && steps.plan.outputs.code != ''"
    );
    let posted = code.as_ref().map(|code| {
        let script = text(&comment["run"], "the comment step's run")
            .replace("${{ steps.plan.outputs.code }}", code)
            .replace("${{ github.event.pull_request.number }}", PR_NUMBER);
        assert!(!script.contains("${{"), "an expression left in {script}");
        world.clear_record();
        let commented = run(&script, "comment.sh");
        assert!(commented.status.success(), "{}", shown(&commented));
        let calls = world.record("gh").expect("gh called");
        assert!(
            calls.starts_with(&format!(
                "pr\tcomment\t{PR_NUMBER}\t--body-file\tcomment.md"
            )),
            "{calls}"
        );
        world.record("gh.body").expect("a comment body")
    });
    (
        Check {
            passed: planned.status.success(),
            output: shown(&planned),
            posted,
        },
        code,
    )
}

/// The GitLab CI job's `script` lines, in one shell as GitLab Runner's bash runs them
/// (`set -eo pipefail` first), with a merge request's predefined variables.
fn gitlab(world: &World, repository: &Path) -> Check {
    let pipeline = block_under("### GitLab CI");
    let lines: Vec<&str> = pipeline["cxf-plan"]["script"]
        .as_sequence()
        .expect("cxf-plan.script")
        .iter()
        .map(|line| text(line, "a script line"))
        .collect();
    let checkout = world.checkout(repository, "gitlab");
    let path = checkout.join("job.sh");
    let script = world.script(&lines.join("\n"));
    std::fs::write(&path, format!("set -eo pipefail\n{script}\n")).unwrap();
    world.clear_record();
    let output = world
        .command("bash", &checkout)
        .arg(&path)
        .env("CI_API_V4_URL", "https://gitlab.example.com/api/v4")
        .env("CI_PROJECT_ID", "42")
        .env("CI_MERGE_REQUEST_IID", PR_NUMBER)
        .env("GITLAB_API_TOKEN", "t")
        .output()
        .unwrap();
    let posted = world.record("curl.body").map(|body| {
        let calls = world.record("curl").unwrap();
        assert!(
            calls.contains("https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes"),
            "{calls}"
        );
        let note: serde_json::Value = serde_json::from_str(&body).expect("the note is JSON");
        note["body"].as_str().expect("the note's body").to_owned()
    });
    Check {
        passed: output.status.success(),
        output: shown(&output),
        posted,
    }
}

/// The PreSync hook's container: its command and arguments, with its environment
/// (the credentials put in), the repository URL replaced by the test's and `/src` by a
/// directory of the test's, and `kubeconfig` standing for its ServiceAccount.
fn argo_hook(world: &World, repository: &Path, kubeconfig: &Path) -> Check {
    let job = block_under(ARGO_HOOK);
    assert_eq!(
        job["metadata"]["annotations"]["argocd.argoproj.io/hook"].as_str(),
        Some("PreSync")
    );
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let mut argv: Vec<String> = container["command"]
        .as_sequence()
        .expect("the container's command")
        .iter()
        .chain(
            container["args"]
                .as_sequence()
                .expect("the container's args"),
        )
        .map(|arg| text(arg, "an argument").to_owned())
        .collect();
    let src = repository.parent().unwrap().join("hook-src");
    let script = argv.last_mut().unwrap();
    assert!(
        script.contains(REPOSITORY),
        "the hook clones another repository"
    );
    *script = world.script(
        &script
            .replace(REPOSITORY, &format!("file://{}", repository.display()))
            .replace(" /src", &format!(" {}", src.display())),
    );
    let mut command = world.command(&argv[0], repository.parent().unwrap());
    command.args(&argv[1..]).env("KUBECONFIG", kubeconfig);
    for var in container["env"].as_sequence().expect("the container's env") {
        let name = text(&var["name"], "an env name");
        if let Some(value) = var["value"].as_str()
            && !name.starts_with("CXF_CLIENT")
        {
            command.env(name, value);
        }
    }
    let output = command.output().unwrap();
    Check {
        passed: output.status.success(),
        output: shown(&output),
        posted: None,
    }
}

#[tokio::test]
async fn each_snippet_passes_on_a_change_and_fails_on_an_invalid_or_unrenderable_overlay() {
    let world = World::new().await;
    let kubeconfig = hook_kubeconfig(world.dir.path()).await;
    let summary = "Plan: 1 to create";
    let created =
        "create ListenerRegistration cxf-example-customer-events-listener/crm-customer-events";
    let finding = "spec.affiliatedApis[0].query";

    let repository = world.repository(Overlay::Change);
    let (check, code) = github(&world, &repository);
    assert!(check.passed, "{check:?}");
    assert_eq!(code.as_deref(), Some("2"));
    let comment = check.posted.unwrap();
    assert!(
        comment.starts_with("### cxf-operator plan (exit 2)\n```\n"),
        "{comment}"
    );
    assert!(
        comment.contains(created) && comment.contains(summary),
        "{comment}"
    );
    let check = gitlab(&world, &repository);
    assert!(check.passed, "{check:?}");
    let note = check.posted.expect("a note posted");
    assert!(
        note.starts_with("### cxf-operator plan (exit 2)\n```\n"),
        "{note}"
    );
    assert!(note.contains(created) && note.contains(summary), "{note}");
    let check = argo_hook(&world, &repository, &kubeconfig);
    assert!(check.passed && check.output.contains(summary), "{check:?}");

    let repository = world.repository(Overlay::Invalid);
    let (check, code) = github(&world, &repository);
    assert!(!check.passed, "{check:?}");
    assert_eq!(code.as_deref(), Some("1"));
    let comment = check.posted.unwrap();
    assert!(
        comment.starts_with("### cxf-operator plan (exit 1)"),
        "{comment}"
    );
    assert!(comment.contains(finding), "{comment}");
    let check = gitlab(&world, &repository);
    assert!(!check.passed, "{check:?}");
    assert!(check.posted.expect("a note posted").contains(finding));
    let check = argo_hook(&world, &repository, &kubeconfig);
    assert!(!check.passed && check.output.contains(finding), "{check:?}");

    // Nothing planned, nothing posted, and the check fails with kustomize's error.
    let repository = world.repository(Overlay::Unrenderable);
    let (check, code) = github(&world, &repository);
    assert!(
        !check.passed && check.output.contains("patches.yaml"),
        "{check:?}"
    );
    assert_eq!((code, check.posted), (None, None));
    let check = gitlab(&world, &repository);
    assert!(
        !check.passed && check.output.contains("patches.yaml"),
        "{check:?}"
    );
    assert_eq!(check.posted, None);
    let check = argo_hook(&world, &repository, &kubeconfig);
    assert!(
        !check.passed && check.output.contains("patches.yaml"),
        "{check:?}"
    );
}
