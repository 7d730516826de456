#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/ against the Kubernetes API schemas with
# kubernetes-validate (PyPI; it bundles the schemas, so no cluster or download is needed),
# in --strict mode (unknown fields are errors), and checks that kustomization.yaml lists every
# manifest and only existing ones. Installs the validator into a private virtual environment
# on first use. Kubernetes itself is not run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SAAS_TOOLS_VENV:-/var/tmp/saas-tools-venv}"
k8s_version="${KUBERNETES_VERSION:-1.32.0}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" 2>/dev/null \
    || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate==1.37.0' >&2
fi
manifests=()
for f in deploy/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "$k8s_version" "${manifests[@]}"
"$venv/bin/python" - "${manifests[@]}" <<'PY'
import os, sys, yaml
listed = yaml.safe_load(open("deploy/kustomization.yaml"))["resources"]
present = sorted(os.path.basename(p) for p in sys.argv[1:])
missing = [r for r in listed if not os.path.exists(os.path.join("deploy", r))]
unlisted = [p for p in present if p not in listed]
if missing or unlisted:
    sys.exit(f"kustomization.yaml: missing files {missing}, manifests not listed {unlisted}")
# Every secret key the manifests read is documented in the secret's creation command.
documented = open("deploy/configmap.yaml").read()
keys = set()
def walk(node):
    if isinstance(node, dict):
        ref = node.get("secretKeyRef")
        if ref: keys.add(ref["key"])
        for item in node.get("items", []) if "secretName" in node else []:
            keys.add(item["key"])
        for v in node.values(): walk(v)
    elif isinstance(node, list):
        for v in node: walk(v)
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        walk(doc)
undocumented = sorted(k for k in keys if f"={k}=" not in documented)
if undocumented:
    sys.exit(f"secret keys read but not in the documented `kubectl create secret` command: {undocumented}")
print(f"kustomization lists all {len(present)} manifests; secret keys documented: {sorted(keys)}")
PY
