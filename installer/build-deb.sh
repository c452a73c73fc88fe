#!/usr/bin/env bash
# Builds the Debian package: the desktop app plus the `crm` admin CLI (as a bundled
# sidecar, installed next to the app as /usr/bin/crm). Output: target/release/bundle/deb/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"

cargo build --release --quiet -p crm-cli
mkdir -p src-tauri/binaries
cp "$target_dir/release/crm" "src-tauri/binaries/crm-$triple"

# The Tauri bundler builds the UI (beforeBuildCommand) and the release app with its assets
# embedded; the extra config adds the CLI only here, so ordinary builds don't need it.
ui/node_modules/.bin/tauri build --bundles deb --config installer/tauri.deb.json
ls -l "$target_dir"/release/bundle/deb/*.deb
