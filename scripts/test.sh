#!/usr/bin/env bash
# The full test suite, on a fresh Debian 12 machine or a developer's: installs the test bed,
# builds the workspace once, checks the architecture rules, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

ensure_testbed
prune_target_dir

echo "== build (workspace, all targets)"
cargo build --workspace --all-targets --locked

echo "== architecture: the core depends on no cloud SDK"
if cargo tree -p scrydon-byodb -e normal,build --prefix none --locked \
    | grep -E -i '^(aws-|google-|gcp|azure)'; then
  echo "FAIL: scrydon-byodb pulls a cloud SDK (above)" >&2
  exit 1
fi

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== doc tests"
cargo test --workspace --doc --locked

echo "== tests"
# Benches are built above and run by `cargo bench`, not here (harness=false binaries would run).
cargo nextest run --workspace --locked --no-fail-fast
