#!/usr/bin/env bash
# What CI runs: formatting, lints, and the tests against a real PostgreSQL (the testkit finds
# or starts one; DATABASE_URL points it at yours).
set -euo pipefail
cd "$(dirname "$0")"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
