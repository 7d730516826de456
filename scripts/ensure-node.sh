#!/usr/bin/env bash
# Makes sure Node.js and npm are installed (Debian's nodejs and npm with apt-get when missing,
# with sudo when not root) and that Node's major version is at least $1 (default 18). Prints
# node's path. Debian 12 ships Node 18, enough for the front end's tooling (scripts/check-web.sh);
# the browser test's playwright-core needs 20 (scripts/e2e/web.sh asks for it).
set -euo pipefail
min="${1:-18}"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing nodejs and npm with apt-get" >&2
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt "$min" ]; then
  echo "Node $(node --version) is older than $min: install Node $min or newer (for example from" \
    "https://github.com/nodesource/distributions) and run this again" >&2
  exit 1
fi
command -v node
