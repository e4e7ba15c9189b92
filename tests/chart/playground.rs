//! The playground as a newcomer meets it: `scripts/dev-cluster.sh up` on a fresh
//! directory, its table of resources, then every command it prints, run as printed from
//! the repository root, then `down`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::{both, cxf_operator, root, run, stdout};

/// `scripts/dev-cluster.sh ARG` with the playground in `dev` and `bin` as cxf-operator.
fn dev_cluster(dev: &Path, bin: &Path, arg: &str) -> Output {
    run(Command::new("bash")
        .arg(root().join("scripts/dev-cluster.sh"))
        .arg(arg)
        .current_dir(root())
        .env("CXF_DEV_DIR", dev)
        .env("CXF_OPERATOR_BIN", bin))
}

/// A `cxf-operator` that starts as a cold one does on a busy machine: its process is
/// something else (here a shell) for a second before it becomes the binary. The first
/// `up` of issue 13 died on that ("the simulator exited at start" while it ran).
fn slow_starting_binary(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("cxf-operator");
    std::fs::write(
        &bin,
        format!("#!/bin/sh\nsleep 1\nexec '{}' \"$@\"\n", cxf_operator()),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Stops the playground however the test ends.
struct Down<'a>(&'a Path, &'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            let out = dev_cluster(self.0, self.1, "down");
            if !out.status.success() {
                eprintln!("scripts/dev-cluster.sh down: {}", both(&out));
            }
        }
    }
}

/// Runs a printed command line after the printed `eval` line, in bash at the root.
fn shell(eval: &str, line: &str) -> Output {
    run(Command::new("bash")
        .arg("-c")
        .arg(format!("{eval}\n{line}"))
        .current_dir(root()))
}

/// Runs `line` until its output contains `want` (a person would run it again, too).
fn shell_until(eval: &str, line: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..60 {
        let out = shell(eval, line);
        last = both(&out);
        if out.status.success() && last.contains(want) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("`{line}` never said {want:?}; last:\n{last}");
}

#[test]
fn dev_cluster_up_shows_the_resources_and_every_printed_command_works() {
    let parent = tempfile::tempdir().unwrap();
    let dev = parent.path().join("dev");
    let bin = slow_starting_binary(parent.path());
    let _down = Down(&dev, &bin);
    let up = dev_cluster(&dev, &bin, "up");
    let printed = stdout(&up);
    assert!(
        up.status.success(),
        "scripts/dev-cluster.sh up: {}",
        both(&up)
    );

    // The table: every resource Ready, the listeners and the rule with framework ids.
    let rows: Vec<Vec<&str>> = printed
        .lines()
        .skip_while(|l| !l.starts_with("KIND"))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.first().map(|r| r[..4].to_vec()),
        Some(vec!["KIND", "NAMESPACE", "NAME", "READY"]),
        "{printed}"
    );
    let resources = &rows[1..];
    assert_eq!(
        resources.len(),
        4 + 3 + 1,
        "4 connections, 3 listeners, 1 rule:\n{printed}"
    );
    for row in resources {
        assert_eq!(row[3], "True", "Ready: {row:?}");
        let id = row[5];
        match row[0] {
            "ListenerRegistration" => assert!(id.starts_with("listener-registration"), "{row:?}"),
            "GatekeepingRule" => assert_eq!(id, "gkr-tmf632", "{row:?}"),
            _ => assert_eq!(id, "<none>", "{row:?}"),
        }
    }
    let crm_id = resources
        .iter()
        .find(|r| r[2] == "crm-customer-events")
        .map(|r| r[5].to_owned())
        .expect("the crm-customer-events listener is in the table");

    // The commands to try next, as printed.
    let commands: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("$ "))
        .collect();
    assert_eq!(commands.len(), 7, "seven commands to try:\n{printed}");
    let eval = commands[0];
    assert!(eval.starts_with("eval "), "{eval}");
    assert!(shell(eval, "true").status.success(), "{eval} works");

    let typo = shell(eval, commands[1]);
    let said = both(&typo);
    assert!(
        !typo.status.success()
            && said.contains("denied the request")
            && said.contains("spec.affiliatedApis[0].query: line 1, column"),
        "`{}` is refused with line and column: {said}",
        commands[1]
    );

    let rotate = shell(eval, commands[2]);
    assert!(
        rotate.status.success(),
        "`{}`: {}",
        commands[2],
        both(&rotate)
    );
    shell_until(eval, commands[3], "patched registration");

    let matched = shell(eval, commands[4]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&matched))
        .unwrap_or_else(|e| panic!("`{}` answers JSON ({e}): {}", commands[4], both(&matched)));
    assert_eq!(answer["published"], true, "{answer}");
    let listeners: Vec<&str> = answer["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("deliveries in {answer}"))
        .iter()
        .map(|d| d["listener-id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        listeners,
        [crm_id.as_str()],
        "customer 20001 goes to crm-customer-events: {answer}"
    );
    let unmatched = shell(eval, commands[5]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&unmatched))
        .unwrap_or_else(|e| panic!("`{}` answers JSON ({e}): {}", commands[5], both(&unmatched)));
    assert_eq!(
        answer["deliveries"],
        serde_json::json!([]),
        "customer 42 goes to no listener: {answer}"
    );
    // The listener got its token from the simulator, then nothing listened at its URL.
    let deliveries = shell_until(
        eval,
        commands[6],
        "sending the event to http://127.0.0.1:9/customer-events-listener",
    );
    assert!(
        deliveries.contains(&crm_id),
        "the deliveries name the listener: {deliveries}"
    );

    let status = dev_cluster(&dev, &bin, "status");
    let said = both(&status);
    assert!(
        said.contains("simulator: running") && said.contains("run: running"),
        "status: {said}"
    );
    let down = dev_cluster(&dev, &bin, "down");
    let said = both(&down);
    assert!(
        down.status.success()
            && !dev.exists()
            && said.contains("stopped run")
            && said.contains("stopped simulator"),
        "down stops both and removes the directory: {said}"
    );
}
