#!/usr/bin/env python3
"""Runs argocd/health.lua in a real Lua 5.1 interpreter against the cases of
argocd/health_test.yaml, and checks that argocd/argocd-cm.yaml and docs/argocd.md carry
health.lua unchanged and that its reasons exist in src/resources/conditions.rs.

Usage: argocd/test_health.py [--lua lua5.1]
       argocd/test_health.py --write-cm    regenerate argocd/argocd-cm.yaml from health.lua
       argocd/test_health.py --eval FILE   print health.lua's "STATUS<TAB>MESSAGE" for a
                                           resource (YAML or JSON, such as kubectl get -o json)
Exit status 1 on any failure; the last line is "N passed, M failed".
"""

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("FrameworkConnection", "ListenerRegistration", "GatekeepingRule")

# The environment health.lua runs in: what Argo CD's Lua VM offers a health script,
# and nothing that reaches outside (no io, os, require, load*), so a script that
# works here does not depend on a library Argo CD does not give it.
DRIVER = """
local chunk = assert(loadfile(%s))
local env = {
  obj = %s,
  ipairs = ipairs, pairs = pairs, next = next, type = type, tostring = tostring,
  tonumber = tonumber, error = error, pcall = pcall, select = select,
  string = string, table = table, math = math,
}
setfenv(chunk, env)
local hs = chunk()
io.write(tostring(hs.status), "\\n", tostring(hs.message))
"""


def lua_literal(value):
    """A Lua 5.1 expression for a YAML value (null becomes nil, so the key is absent)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for byte in value.encode("utf-8"):
            ch = chr(byte)
            if ch in "\\\"" or byte < 32 or byte > 126:
                out.append("\\%03d" % byte)  # three digits: a digit after it is not part of it
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = ("[%s] = %s" % (lua_literal(str(k)), lua_literal(v)) for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise TypeError("unsupported YAML value %r" % (value,))


CM_HEADER = """\
# Argo CD health checks for the cxf-operator's resources. Merge these keys into the
# argocd-cm ConfigMap of your Argo CD installation (see docs/argocd.md), for example:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file argocd/argocd-cm.yaml
# Each value is argocd/health.lua verbatim: regenerate with argocd/test_health.py --write-cm.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/part-of: argocd
data:
"""


def argocd_cm(script):
    """argocd-cm.yaml's text for the health script `script`."""
    body = "".join("    " + line if line.strip() else line for line in script.splitlines(True))
    return CM_HEADER + "".join("  resource.customizations.health.cxf.dev_%s: |\n%s" % (k, body) for k in KINDS)


def run_health(lua, health_path, resource):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(DRIVER % (lua_literal(str(health_path)), lua_literal(resource)))
        driver = f.name
    try:
        proc = subprocess.run([lua, driver], capture_output=True, text=True, check=False)
    finally:
        pathlib.Path(driver).unlink()
    if proc.returncode != 0:
        raise RuntimeError("lua failed: " + proc.stderr.strip())
    status, _, message = proc.stdout.partition("\n")
    return status, message


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lua", default="lua5.1", help="Lua 5.1 interpreter to run")
    parser.add_argument("--write-cm", action="store_true", help="regenerate argocd-cm.yaml and exit")
    parser.add_argument("--eval", metavar="FILE", help="print the health of the resource in FILE and exit")
    args = parser.parse_args()
    if args.write_cm:
        (HERE / "argocd-cm.yaml").write_text(argocd_cm((HERE / "health.lua").read_text()))
        return 0
    if args.eval:
        resource = yaml.safe_load(pathlib.Path(args.eval).read_text())
        print("%s\t%s" % run_health(args.lua, HERE / "health.lua", resource))
        return 0

    version = subprocess.run([args.lua, "-v"], capture_output=True, text=True, check=True)
    if not (version.stdout + version.stderr).startswith("Lua 5.1"):
        sys.exit("%s is not Lua 5.1: %s" % (args.lua, (version.stdout + version.stderr).strip()))

    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("ok   %s" % name)
        else:
            failed += 1
            print("FAIL %s%s" % (name, ": " + detail if detail else ""))

    health = HERE / "health.lua"
    cases = yaml.safe_load((HERE / "health_test.yaml").read_text())["tests"]
    seen = set()
    for case in cases:
        resource = yaml.safe_load((HERE / case["inputPath"]).read_text())
        want = case["healthStatus"]
        try:
            got = run_health(args.lua, health, resource)
        except RuntimeError as err:
            check(case["inputPath"], False, str(err))
            continue
        seen.add(want["status"])
        check(
            "%s -> %s" % (case["inputPath"], want["status"]),
            got == (want["status"], want["message"]),
            "got %s %r, want %s %r" % (got[0], got[1], want["status"], want["message"]),
        )
    check("cases cover Healthy, Progressing and Degraded", seen >= {"Healthy", "Progressing", "Degraded"}, str(seen))

    # argocd-cm.yaml holds health.lua verbatim under one key per kind.
    script = health.read_text()
    cm_text = (HERE / "argocd-cm.yaml").read_text()
    cm = yaml.safe_load(cm_text)
    for kind in KINDS:
        key = "resource.customizations.health.cxf.dev_" + kind
        check("argocd-cm.yaml %s is health.lua" % key, cm.get("data", {}).get(key) == script, "run --write-cm")
    extra = set(cm.get("data", {})) - {"resource.customizations.health.cxf.dev_" + k for k in KINDS}
    check("argocd-cm.yaml has no other keys", not extra, str(sorted(extra)))
    check("argocd-cm.yaml is what --write-cm writes", cm_text == argocd_cm(script), "run --write-cm")

    # docs/argocd.md shows argocd-cm.yaml as it is.
    docs = (ROOT / "docs" / "argocd.md").read_text()
    check("docs/argocd.md shows argocd/argocd-cm.yaml unchanged", "```yaml\n" + cm_text + "```" in docs)

    # The reasons health.lua treats as progressing are reasons the operator sets.
    consts = set(re.findall(r'pub const REASON_\w+: &str = "(\w+)";', (ROOT / "src/resources/conditions.rs").read_text()))
    block = re.search(r"local progressingReasons = \{(.*?)\n\}", script, re.S)
    reasons = set(re.findall(r"(\w+) = true", block.group(1))) if block else set()
    check("health.lua names progressing reasons", bool(reasons))
    check(
        "health.lua's progressing reasons are in src/resources/conditions.rs",
        reasons <= consts,
        "unknown: %s" % sorted(reasons - consts),
    )

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
