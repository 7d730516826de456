#!/usr/bin/env bash
# Builds the guide (docs/) with mdBook, installing mdBook from crates.io into a tools folder
# outside the repository on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${SAAS_TOOLS_DIR:-/var/tmp/saas-tools}"
if [ ! -x "$tools/bin/mdbook" ]; then
  echo "installing mdbook into $tools" >&2
  cargo install --locked --quiet --root "$tools" mdbook@0.5.4 --no-default-features --features search >&2
fi
"$tools/bin/mdbook" build docs
