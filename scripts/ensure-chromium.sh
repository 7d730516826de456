#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium (apt-get install chromium chromium-driver,
# with sudo when not root) and prints its path. Idempotent: with Chromium there it asks nothing.
set -euo pipefail
chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
  echo "installing chromium with apt-get" >&2
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
[ -x "$chromium" ] || { echo "no Chromium at $chromium after apt-get install" >&2; exit 1; }
echo "$chromium"
