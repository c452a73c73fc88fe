#!/usr/bin/env bash
# Vulnerability assessment of the Rust dependencies: cargo-deny over Cargo.lock with deny.toml
# (security advisories, unmaintained and unsound crates, licenses, banned and duplicate crates,
# sources). scripts/test.sh runs it on every test run; it fails on any advisory that deny.toml
# does not list with the reason it was reviewed and kept.
#
# The advisory database is the online RustSec database when it can be fetched, else the snapshot
# in ../shared/advisory-db (beside the repository; CI gets a copy); the output says which.
# Afterwards the check is shown to bite: run against a copy of deny.toml with one reviewed
# advisory taken out, it must fail.
#
#   bash scripts/advisories.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null 2>&1 || bash scripts/setup.sh
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# deny.toml reads the database folder from this variable.
export STRONGROOM_ADVISORY_DB_ROOT="$target_dir/advisory-dbs"
# cargo-deny's folder for the default database URL (https://github.com/rustsec/advisory-db).
db="$STRONGROOM_ADVISORY_DB_ROOT/advisory-db-3157b0e258782691"
snapshot="../shared/advisory-db"
mkdir -p "$STRONGROOM_ADVISORY_DB_ROOT"

offline=()
if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
  echo "advisories: online RustSec database, fetched $(date -u +%F)"
else
  if [ ! -d "$snapshot/crates" ]; then
    echo "advisories: the online database cannot be fetched and $snapshot is missing" >&2
    exit 1
  fi
  commit=$(grep -Eo '[0-9a-f]{40}' "$snapshot/README.md" | head -1 || true)
  date=$(grep -Eo 'of [0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/README.md" | head -1 | cut -c4- || true)
  # cargo-deny opens the database as a git checkout and dates it by its commit: make one of the
  # snapshot, dated as the snapshot is (so its age is reported truthfully).
  # (CI's copy of shared/ has no write bits, and cp keeps them.)
  if [ -d "$db" ]; then chmod -R u+w "$db"; fi
  rm -rf "$db"
  mkdir -p "$db"
  cp -R "$snapshot/." "$db/"
  chmod -R u+w "$db"
  stamp="${date:-$(date -u +%F)}T00:00:00Z"
  (cd "$db" && git init -q && git add -A &&
    GIT_COMMITTER_DATE="$stamp" git -c user.name=advisory-db -c user.email=advisory-db@localhost \
      commit -q --date "$stamp" -m "RustSec advisory-db snapshot ${commit:-unknown}")
  echo "advisories: online database unreachable; using the snapshot in $snapshot" \
    "(advisory-db ${commit:-unknown commit} of ${date:-unknown date})"
  offline=(--offline)
fi

cargo deny "${offline[@]}" --log-level error check --hide-inclusion-graph \
  advisories licenses bans sources

# The check must fail on an advisory nobody reviewed: take the first reviewed one out of a copy.
probe=$(mktemp --suffix=.toml)
trap 'rm -f "$probe"' EXIT
removed=$(grep -m1 -Eo 'RUSTSEC-[0-9]{4}-[0-9]{4}' deny.toml || true)
if [ -n "$removed" ]; then
  grep -v "\"$removed\"" deny.toml >"$probe"
  if cargo deny --offline --log-level error --config "$probe" check advisories >/dev/null 2>&1; then
    echo "advisories: the check passed with $removed no longer reviewed; it would miss new advisories" >&2
    exit 1
  fi
  echo "advisories: with $removed unreviewed the check fails, as it must"
fi
echo "advisories: every advisory in the dependency tree is reviewed in deny.toml"
