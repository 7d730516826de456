#!/usr/bin/env bash
# Makes sure the nats-server binary is installed (the event tests start servers of their own
# from it). Installs Debian's package when missing: as root, or with sudo. Prints its path.
set -euo pipefail
find_bin() {
  for candidate in "${NATS_SERVER_BIN:-}" /usr/sbin/nats-server /usr/bin/nats-server /usr/local/bin/nats-server; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  command -v nats-server 2>/dev/null
}
if bin=$(find_bin); then echo "$bin"; exit 0; fi
echo "nats-server is missing: installing Debian's package nats-server" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "run as root or install it yourself: apt-get install nats-server" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq nats-server >&2
find_bin
