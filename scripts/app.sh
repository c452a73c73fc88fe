#!/usr/bin/env bash
# Runs Strongroom CRM: installs what is missing, builds the UI, and launches the desktop app
# on the default vault ($STRONGROOM_VAULT, else ~/.local/share/strongroom/vault). With no
# vault there yet, the app opens on the first-run screen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd ui && npm run --silent build)
# custom-protocol embeds ui/dist in the binary, as in the installed app.
exec cargo run --quiet -p strongroom-desktop --features tauri/custom-protocol -- "$@"
