# Sourced by the project's scripts: one build directory outside the clone, kept across runs.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/scrydon-byodb/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Incremental caches buy nothing for whole-workspace builds and cost tens of GB over runs.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || {
  export CARGO_TARGET_DIR=$HOME/.cache/scrydon-byodb/target
  mkdir -p "$CARGO_TARGET_DIR"
}

# Installs the test bed (Debian packages, pgvector, PyPI and npm peers) unless it is there.
ensure_testbed() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    bash "$here/testbed-install.sh"
  else
    sudo bash "$here/testbed-install.sh"
  fi
}

# The build directory outlives clones: every change of a crate's features or dependencies leaves
# its old artifacts behind (test binaries of ~100 MB each). Above the limit it is emptied, and the
# next build starts from scratch (a few minutes) instead of filling the disk.
prune_target_dir() {
  local limit_gb=${SCRYDON_TARGET_LIMIT_GB:-30} used_kb
  used_kb=$(du -sk "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1)
  if [ "${used_kb:-0}" -gt $((limit_gb * 1024 * 1024)) ]; then
    echo "build directory $CARGO_TARGET_DIR holds $((used_kb / 1024 / 1024)) GB (> ${limit_gb} GB): emptying it"
    rm -rf "${CARGO_TARGET_DIR:?}"/*
  fi
}
