#!/usr/bin/env bash
# End-to-end test of the desktop app: builds the UI and the app with its assets embedded,
# then drives the real window under Xvfb through tauri-driver + WebKitWebDriver
# (tests/e2e). Screenshots of the main screens are written to target/e2e-screenshots/, so a
# test run leaves the working tree as it was.
#
#   bash scripts/e2e.sh                        # run the test; screenshots in target/e2e-screenshots/
#   bash scripts/e2e.sh --update-screenshots   # also replace docs/screenshots/ (after a passing run)
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export STRONGROOM_KDF=floor

update=false
for arg in "$@"; do
  case "$arg" in
    --update-screenshots) update=true ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "e2e.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

(cd ui && npm run --silent build)
# custom-protocol: serve the embedded ui/dist, as the installed app does (not a dev server).
# crm-core/test-hooks: honour STRONGROOM_KDF=floor (and the other test hooks), which a release
# build ignores.
cargo build --quiet -p strongroom-desktop --features tauri/custom-protocol,crm-core/test-hooks
cargo build --quiet -p strongroom-e2e --features crm-core/test-hooks

shots="$target_dir/e2e-screenshots"
rm -rf "$shots"
mkdir -p "$shots"
# Each run gets its own display (-a) and session bus; ports are chosen by the test.
timeout 900 xvfb-run -a -s "-screen 0 1400x2100x24" \
  dbus-run-session -- "$target_dir/debug/strongroom-e2e" \
  "$target_dir/debug/strongroom-desktop" "$shots"
echo "e2e: screenshots in $shots"

if $update; then
  # Only a passing run gets here (set -e): the committed set is replaced as a whole, so a
  # renamed or dropped screen leaves no stale picture behind.
  rm -f docs/screenshots/*.png
  cp "$shots"/*.png docs/screenshots/
  echo "e2e: docs/screenshots/ updated; look at each picture before committing"
fi
