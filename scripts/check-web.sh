#!/usr/bin/env bash
# The CI gate of the taskboard's page (examples/taskboard/web): the committed files agree with
# examples/taskboard/openapi/v2.json and with each other.
#   1. src/schema.d.ts is what openapi-typescript makes of the committed v2.json
#      (else: run `npm run generate`);
#   2. `tsc --noEmit`: the page (src/main.ts) type-checks against those types, so a route, a
#      field or a status the page uses and the document no longer has fails here;
#   3. dist/ (what the app embeds and serves at /app) is what `npm run build` makes of the
#      sources (else: run `npm run build`).
# Installs Node.js and npm with apt-get when missing (scripts/ensure-node.sh) and the pinned
# tools with `npm ci`. Exits non-zero on the first disagreement.
set -euo pipefail
cd "$(dirname "$0")/.."
web=examples/taskboard/web

scripts/ensure-node.sh 18 >/dev/null
scratch="$(mktemp -d /tmp/check-web.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

cd "$web"
echo "npm ci (node $(node --version), npm $(npm --version))"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

echo "src/schema.d.ts is generated from ../openapi/v2.json"
node scripts/generate.mjs "$scratch/schema.d.ts"
if ! diff -u src/schema.d.ts "$scratch/schema.d.ts" >"$scratch/schema.diff"; then
  head -n 60 "$scratch/schema.diff"
  echo "src/schema.d.ts is not what openapi-typescript makes of openapi/v2.json:" \
    "run \`npm run generate\` in $web and commit the result" >&2
  exit 1
fi

echo "tsc --noEmit: the page and the client agree with the document"
if ! npx --no-install tsc --noEmit; then
  echo "the page does not type-check against the types of openapi/v2.json (above)" >&2
  exit 1
fi

echo "dist/ is what \`npm run build\` makes of the sources"
node build.mjs "$scratch/dist" >/dev/null
if ! diff -r dist "$scratch/dist" >"$scratch/dist.diff"; then
  head -n 20 "$scratch/dist.diff"
  echo "dist/ is out of date: run \`npm run build\` in $web and commit dist/" >&2
  exit 1
fi
echo "front end: schema, types and dist agree with openapi/v2.json"
