#!/usr/bin/env bash
# `saas new` writes a project that passes its own CI script (fmt, clippy, tests against a real
# PostgreSQL), and a build of it without the `dev` feature refuses to start without
# DATABASE_URL, saying so, instead of looking for (or installing) a development database.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
DATABASE_URL="$(scripts/ensure-postgres.sh)"
export DATABASE_URL
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo run -q -p saas-cli -- new shop --dir "$work/shop" --path "$root"
# The framework's lockfile pins the versions it is tested with, so the generated project
# resolves the same crates (and reuses their builds in the shared target directory).
cp Cargo.lock "$work/shop/Cargo.lock"
(cd "$work/shop" && ./ci.sh)

secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
if out="$(cd "$work/shop" && env -u DATABASE_URL SHOP_JWT_SECRET="$secret" cargo run -q -- migrate 2>&1)"; then
    echo "check-template: the app started without DATABASE_URL:" >&2
    echo "$out" >&2
    exit 1
fi
if ! grep -q "DATABASE_URL is not set: set it to" <<<"$out"; then
    echo "check-template: without DATABASE_URL the app failed, but not naming it:" >&2
    echo "$out" >&2
    exit 1
fi
echo "check-template: the generated project passes ./ci.sh; without DATABASE_URL it says:"
grep -m1 "DATABASE_URL" <<<"$out"
