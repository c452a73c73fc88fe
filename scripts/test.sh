#!/usr/bin/env bash
# The whole test suite: formatting, lints, core and CLI tests, front-end checks, the desktop
# app end to end under Xvfb, and a tiny-scale benchmark run. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Tests use the floor Argon2 cost (64 MiB, 3 passes) so hundreds of unlocks stay quick.
export STRONGROOM_KDF=floor

step() { printf '\n== %s ==\n' "$*"; }

# --- Vulnerability assessment: RustSec advisories, licenses, bans, sources (deny.toml). ---
step "dependency advisories and licenses (cargo deny)"
bash scripts/advisories.sh

if [ -f ui/package.json ]; then
  step "front end: build, type-check, unit tests"
  (cd ui && npm run --silent check && npm run --silent test && npm run --silent build)
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (core, CLI, desktop commands)"
results=$(mktemp)
cargo test --workspace --quiet 2>&1 | tee "$results"
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$results" | awk '{s += $4} END {print s + 0}')
rm -f "$results"

if [ -x scripts/e2e.sh ]; then
  step "desktop app end to end (Xvfb + tauri-driver)"
  bash scripts/e2e.sh
  passed=$((passed + 1))
fi

# One closing line with the total, so a reader (or CI) does not take the last doc-test
# summary ("0 passed") for the whole run.
echo "tests: ${passed} passed, 0 failed"
