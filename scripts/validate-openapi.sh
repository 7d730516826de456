#!/usr/bin/env bash
# Validates OpenAPI documents with openapi-spec-validator (PyPI), installed into a private
# virtual environment on first use. Arguments: document files (default: the reference app's
# committed documents, 3.1 and 3.0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SAAS_TOOLS_VENV:-/var/tmp/saas-tools-venv}"
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q 'openapi-spec-validator>=0.7' >&2
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(examples/taskboard/openapi/*.json examples/taskboard/openapi/openapi-3.0/*.json)
failed=0
for f in "${files[@]}"; do
  if "$venv/bin/openapi-spec-validator" "$f" >/tmp/openapi-validate.log 2>&1; then
    echo "valid: $f"
  else
    echo "INVALID: $f"; cat /tmp/openapi-validate.log; failed=1
  fi
done
exit $failed
