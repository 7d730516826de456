#!/usr/bin/env bash
# Refreshes the vendored Swagger UI assets served at /docs from the npm registry.
set -euo pipefail
version="${1:?usage: vendor-swagger-ui.sh VERSION}"
dest="$(cd "$(dirname "$0")/.." && pwd)/saas-core/assets/swagger-ui"
tmp="$(mktemp -d)"
(cd "$tmp" && npm pack "swagger-ui-dist@$version" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
cp "$tmp/package/"{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$dest/"
sed -i "s/^Swagger UI [0-9.]*/Swagger UI $version/" "$dest/README.md"
rm -rf "$tmp"
