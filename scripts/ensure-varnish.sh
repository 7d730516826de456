#!/usr/bin/env bash
# Makes sure varnishd is installed (scripts/e2e/edge.sh starts an edge of its own from it).
# Installs Debian's package when missing: as root, or with sudo. Prints its path.
set -euo pipefail
find_bin() {
  for candidate in "${VARNISHD_BIN:-}" /usr/sbin/varnishd /usr/bin/varnishd /usr/local/sbin/varnishd; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  command -v varnishd 2>/dev/null
}
if bin=$(find_bin); then echo "$bin"; exit 0; fi
echo "varnishd is missing: installing Debian's package varnish" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "run as root or install it yourself: apt-get install varnish" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq varnish >&2
# The package's own service is not needed (and not wanted on port 6081).
if command -v systemctl >/dev/null && systemctl is-active --quiet varnish 2>/dev/null; then
  $SUDO systemctl stop varnish >&2 || true
fi
find_bin
