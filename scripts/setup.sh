#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine needs to build, run and test Strongroom CRM.
# Idempotent: installs only what is missing, so the run and test commands call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  # Tauri 2 on Linux (WebKitGTK 4.1) and SQLCipher's crypto
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
  libssl-dev pkg-config build-essential file
  # End-to-end tests: a virtual display, the WebKit WebDriver, a session bus, screenshots
  xvfb webkit2gtk-driver dbus-x11 imagemagick
)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# tauri-driver bridges WebDriver clients to WebKitWebDriver for the end-to-end tests.
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver from crates.io"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi

# cargo-deny checks the dependencies against the RustSec advisories (scripts/advisories.sh).
# Built from crates.io once per machine: about 4 minutes of CPU, 16 minutes wall-clock on a
# loaded 2-core machine (2026-12-04).
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "setup: installing cargo-deny from crates.io (a few minutes, once)"
  cargo install cargo-deny --version 0.20.2 --locked --quiet
fi

# Front-end dependencies, exactly as locked.
if [ -f ui/package-lock.json ]; then
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    echo "setup: installing front-end packages"
    # `npm ci` is preferred. Where npm is configured with omit-lockfile-registry-resolved (as on
    # the project's build machines), npm 11 records optional platform packages without versions
    # and `npm ci` rejects its own lock file; `npm install` then installs the same locked
    # versions, and the check below fails the run if it had to change the lock.
    (cd ui && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
        || { cp package-lock.json /tmp/strongroom-lock.$$ \
             && npm install --no-audit --no-fund --loglevel=error \
             && cmp -s package-lock.json /tmp/strongroom-lock.$$; }; })
  fi
fi
