#!/usr/bin/env bash
# Re-vendor the front-end libraries from the npm registry into the package's static files.
# Run by a developer when upgrading; the outputs are committed (the platform never uses a CDN).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=src/qiantang/web/static/vendor
ECHARTS=6.1.0
HTMX=2.0.11
SWAGGER=5.32.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@$ECHARTS" "htmx.org@$HTMX" "swagger-ui-dist@$SWAGGER" >/dev/null)
mkdir -p "$DEST/echarts" "$DEST/htmx" "$DEST/swagger-ui"
tar -xzf "$tmp/echarts-$ECHARTS.tgz" -C "$tmp" package/dist/echarts.min.js package/LICENSE
cp "$tmp/package/dist/echarts.min.js" "$tmp/package/LICENSE" "$DEST/echarts/" && rm -rf "$tmp/package"
tar -xzf "$tmp/htmx.org-$HTMX.tgz" -C "$tmp" package/dist/htmx.min.js package/LICENSE
cp "$tmp/package/dist/htmx.min.js" "$tmp/package/LICENSE" "$DEST/htmx/" && rm -rf "$tmp/package"
tar -xzf "$tmp/swagger-ui-dist-$SWAGGER.tgz" -C "$tmp" package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE
cp "$tmp/package/swagger-ui-bundle.js" "$tmp/package/swagger-ui.css" "$tmp/package/LICENSE" "$DEST/swagger-ui/"
{
  echo "# Vendored from the npm registry by scripts/vendor_assets.sh"
  echo "echarts@$ECHARTS (Apache-2.0)"
  echo "htmx.org@$HTMX (0BSD)"
  echo "swagger-ui-dist@$SWAGGER (Apache-2.0)"
  echo
  (cd "$DEST" && sha256sum echarts/echarts.min.js htmx/htmx.min.js swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css)
} > "$DEST/VERSIONS.txt"
cat "$DEST/VERSIONS.txt"
