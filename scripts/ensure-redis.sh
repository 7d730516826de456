#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:${REDIS_PORT:-6379} (the rate-limit tests share
# it) and that the redis-server binary is installed (one test starts and stops a server of
# its own). Installs Debian's package when the binary is missing (as root, or with sudo), and
# starts a daemon when nothing answers PING; a Redis already answering is used as it is.
# Idempotent. Prints the URL.
set -euo pipefail
port="${REDIS_PORT:-6379}"
url="redis://127.0.0.1:$port"

ping() (
  # Plain RESP over bash's /dev/tcp (no redis-cli needed), in a subshell that closes it.
  exec 2>/dev/null
  exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  printf 'PING\r\n' >&3
  reply=""
  read -r -t 2 reply <&3 || true
  [[ "$reply" == +PONG* ]]
)

find_bin() {
  for candidate in "${REDIS_SERVER_BIN:-}" /usr/bin/redis-server /usr/sbin/redis-server /usr/local/bin/redis-server; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  command -v redis-server 2>/dev/null
}

if ! bin=$(find_bin); then
  echo "redis-server is missing: installing Debian's package redis-server" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "run as root or install it yourself: apt-get install redis-server" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq redis-server >&2
  bin=$(find_bin)
fi

if ! ping; then
  echo "nothing answers on 127.0.0.1:$port: starting $bin as a daemon" >&2
  # A cache for tests and development: nothing is written to disk.
  "$bin" --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --dir /tmp --logfile "/tmp/saas-redis-$port.log" >&2
  for _ in $(seq 1 50); do
    if ping; then break; fi
    sleep 0.1
  done
  ping || { echo "redis-server did not answer on $port (see /tmp/saas-redis-$port.log)" >&2; exit 1; }
fi
echo "$url"
