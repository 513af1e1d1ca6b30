#!/usr/bin/env bash
# The main job against a local server: starts a TLS PostgreSQL 15 with pgvector from the test bed,
# then runs scrydon-byodb against it with sslmode=verify-full, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

ensure_testbed
cargo build --locked -q -p scrydon-byodb-cli -p scrydon-byodb-testbed
bin=$CARGO_TARGET_DIR/debug

state=$(mktemp -d)
chmod 755 "$state"  # the server runs as the postgres user when we are root
cleanup() { "$bin/scrydon-testbed-server" --stop --dir "$state/pg" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT

# The server prints one JSON line: the verify-full URI (password included) and the CA path.
"$bin/scrydon-testbed-server" --detach --dir "$state/pg" > "$state/server.json"
uri=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uri"])' "$state/server.json")

# The DSN reaches the CLI on stdin, never on its command line.
printf '%s\n' "$uri" | "$bin/scrydon-byodb" connect - "$@"
