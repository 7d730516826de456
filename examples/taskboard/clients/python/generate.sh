#!/usr/bin/env bash
# Generates the taskboard Python client with openapi-python-client into
# generated/taskboard_client/ beside this script (replaced on every run, git-ignored).
#
# Usage: generate.sh [DOCUMENT]
#   Without DOCUMENT it reads the committed OpenAPI 3.1 document
#   (examples/taskboard/openapi/v2.json) and falls back to the 3.0 copy
#   (openapi/openapi-3.0/v2.json) only if the generator rejects the 3.1 one or warns about it.
# The generator runs from the virtual environment $SAAS_TOOLS_VENV
# (default /var/tmp/saas-tools-venv), created and filled from requirements.txt when needed.
# Prints the document it used as the last line on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="${SAAS_TOOLS_VENV:-/var/tmp/saas-tools-venv}"
out="$here/generated/taskboard_client"

log() { echo "generate: $*" >&2; }

pinned="$(sed -n 's/^openapi-python-client==\([^[:space:]]*\).*/\1/p' "$here/requirements.txt")"
installed="$("$venv/bin/openapi-python-client" --version 2>/dev/null | awk '{print $NF}' || true)"
if [ "$installed" != "$pinned" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the virtual environment $venv"
    python3 -m venv "$venv" 2>/dev/null \
      || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  fi
  log "installing openapi-python-client $pinned into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
# The generator formats its output with ruff, which it expects on PATH.
export PATH="$venv/bin:$PATH"

if [ $# -gt 0 ]; then
  documents=("$1")
else
  documents=("$repo/examples/taskboard/openapi/v2.json" "$repo/examples/taskboard/openapi/openapi-3.0/v2.json")
fi

mkdir -p "$here/generated"
work="$(mktemp -d "$here/generated/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

for doc in "${documents[@]}"; do
  rm -rf "$work/taskboard_client"
  # --fail-on-warning: a client with silently skipped operations or models is no client.
  if openapi-python-client generate --path "$doc" --output-path "$work/taskboard_client" \
      --meta none --fail-on-warning >"$work/log" 2>&1; then
    rm -rf "$out"
    mv "$work/taskboard_client" "$out"
    rm -rf "$out/.ruff_cache"
    printf '%s\n' "${doc#"$repo"/}" >"$out/SOURCE_DOCUMENT"
    echo "${doc#"$repo"/}"
    exit 0
  fi
  log "openapi-python-client could not digest ${doc#"$repo"/}:"
  sed 's/^/  /' "$work/log" >&2
  [ "$doc" = "${documents[-1]}" ] || log "falling back to the next document"
done
log "no document could be turned into a client"
exit 1
