#!/usr/bin/env bash
# End-to-end test of the desktop app: builds the UI and the app with its assets embedded,
# then drives the real window under Xvfb through tauri-driver + WebKitWebDriver
# (tests/e2e). Screenshots of the main screens land in docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export STRONGROOM_KDF=floor

(cd ui && npm run --silent build)
# custom-protocol: serve the embedded ui/dist, as the installed app does (not a dev server).
cargo build --quiet -p strongroom-desktop --features tauri/custom-protocol
cargo build --quiet -p strongroom-e2e

# Each run gets its own display (-a) and session bus; ports are chosen by the test.
timeout 600 xvfb-run -a -s "-screen 0 1400x2100x24" \
  dbus-run-session -- "$target_dir/debug/strongroom-e2e" \
  "$target_dir/debug/strongroom-desktop" docs/screenshots
