#!/usr/bin/env bash
# The main job against a local server: starts a TLS PostgreSQL 15 with pgvector from the test bed,
# then runs the whole move against it with sslmode=verify-full (`scrydon-byodb run`: preflight,
# bootstrap, render, verify), prints the compliance report, and stops the server.
#
# The exit code is the run's: 0 when every stage passed. The compliance report's "not met"
# controls (a local server has no WAL archiving and no standby) are its answer, not a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
prune_target_dir

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

# The app role's password: generated, in a 0600 file, never on a command line.
(umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$state/app-password")

# The DSN reaches the CLI on stdin, never on its command line.
printf '%s\n' "$uri" | "$bin/scrydon-byodb" connect - "$@"

# The whole move. The test bed is a single small server (max_connections 50, no pooler): the
# capacity check is given this setup's real load, one pod per component with a pool of 4
# (5 x (4 + 2 sidecar) + 5 migration Jobs = 35 connections), not the production default.
echo
echo "### scrydon-byodb run"
printf '%s\n' "$uri" | "$bin/scrydon-byodb" run --admin-url - \
  --app-role scrydon --password-file "$state/app-password" \
  --mode a --out "$state/out" --pods 1 --pool-size 4
status=0

# A second run resumes: every stage passed, nothing is redone.
printf '%s\n' "$uri" | "$bin/scrydon-byodb" run --admin-url - \
  --app-role scrydon --password-file "$state/app-password" \
  --mode a --out "$state/out" --pods 1 --pool-size 4 --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print("\nrerun:", ", ".join(s["stage"]+"="+s["status"] for s in d["stages"]))'

echo
echo "### scrydon-byodb report"
printf '%s\n' "$uri" | "$bin/scrydon-byodb" report --admin-url - --app-role scrydon --format text
exit $status
