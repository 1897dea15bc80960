#!/bin/sh
# Copies MapLibre GL JS from npm into the web map's static files, so /map/ needs no CDN.
# Run by hand to change the version (then commit the files); set-up never runs it.
set -eu
VERSION="${1:-5.24.1}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/gis_layers/static/map/vendor/maplibre-gl"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "maplibre-gl@$VERSION" >/dev/null && tar -xzf maplibre-gl-*.tgz)
mkdir -p "$DEST"
cp "$WORK/package/dist/maplibre-gl.js" "$WORK/package/dist/maplibre-gl.css" "$DEST/"
# The source map is not shipped; drop the reference so nothing asks for it.
sed -i '/^\/\/# sourceMappingURL=/d' "$DEST/maplibre-gl.js"
cp "$WORK/package/LICENSE.txt" "$DEST/LICENSE.txt"
echo "$VERSION" > "$DEST/VERSION"
echo "MapLibre GL JS $VERSION -> $DEST"
