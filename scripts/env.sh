# Sourced by the project's scripts: one build directory outside the clone, kept across runs.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/scrydon-byodb/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
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
