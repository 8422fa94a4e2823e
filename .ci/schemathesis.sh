#!/usr/bin/env bash
# Property-based tests of the REST API against its own OpenAPI document:
# starts a real server (debug build) on a free loopback port with a fresh
# data dir, an account and an admin token, runs schemathesis (from PyPI, in
# a venv under target/) against /api/openapi.json with every check, and
# stops the server by its PID. Fails on any server error or any response
# that breaks the document. Needs python3 with venv; no stdin, no TTY.
#
#   .ci/schemathesis.sh                 # defaults: 60 examples per operation
#   ST_MAX_EXAMPLES=200 .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-60}

cargo build -p confab --locked --quiet
# Cargo's target dir, absolute (it honours CARGO_TARGET_DIR).
TARGET=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
VENV=$TARGET/schemathesis-venv
ROOT_VENV=$VENV
BIN=$TARGET/debug/confab

if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK=$(mktemp -d)
SERVER_PID=
CHATTER_PID=
cleanup() {
    local status=$?
    if [[ $status -ne 0 && -s "$WORK/server.err" ]]; then
        echo "the server's log (warnings and errors):" >&2
        tail -n 50 "$WORK/server.err" >&2
    fi
    if [[ -n "$CHATTER_PID" ]] && kill -0 "$CHATTER_PID" 2>/dev/null; then
        kill "$CHATTER_PID"
    fi
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DATA="$WORK/data"
USER_NAME=tester
PASSWORD="schemathesis-$RANDOM$RANDOM"
export ADMIN_TOKEN="admin-$RANDOM$RANDOM$RANDOM"

# The account the token acts for, and a second one to send private
# messages to; the password comes on stdin, never in argv.
# Admin commands never create a database: init makes it before the first start.
"$BIN" admin init --data-dir "$DATA" >/dev/null
printf '%s\n' "$PASSWORD" | "$BIN" user add "$USER_NAME" --data-dir "$DATA" >/dev/null
printf '%s\n' "other-$PASSWORD" | "$BIN" user add friend --data-dir "$DATA" >/dev/null

# The flood limit and the uploads per hour are lifted (their 429s are
# tested in the abuse suite and tests/rest.rs), so schemathesis's
# thousands of calls reach the handlers behind them.
CONFAB_HTTP__ADMIN_TOKEN="$ADMIN_TOKEN" RUST_LOG=warn \
    CONFAB_LIMITS__RATE_PER_SEC=100000 CONFAB_LIMITS__RATE_BURST=100000 \
    CONFAB_HTTP__UPLOADS_PER_HOUR=100000 \
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" </dev/null >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!

# The server prints its address once every listener is bound.
ADDR=
for _ in $(seq 1 300); do
    ADDR=$(sed -n 's/^confab listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$WORK/server.out" | head -n1)
    [[ -n "$ADDR" ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server did not start:" >&2
        cat "$WORK/server.err" >&2
        exit 1
    fi
    sleep 0.1
done
[[ -n "$ADDR" ]] || { echo "no address from the server within 30 s" >&2; exit 1; }
BASE="http://$ADDR"

# A line-protocol user in #general with a few messages, connected for the
# whole run, so that history and search have something to page through.
"$VENV/bin/python" - "$ADDR" "$USER_NAME" "$PASSWORD" <<'PY' &
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
lines = [f"/login {sys.argv[2]} {sys.argv[3]}"]
lines += [f"message {i} zebra{i % 3}" for i in range(30)]
s.sendall("".join(line + "\r\n" for line in lines).encode())
s.settimeout(None)
while s.recv(4096):
    pass
PY
CHATTER_PID=$!

# A login token, through the API itself. (Generous: the login waits for
# the store, behind the chatter's commits, each synced to disk. Twice in
# one hour, right after a build, a 10 s wait timed out; the cause was
# not found, and 30 tries after it took 0.05 s each.)
export USER_TOKEN
USER_TOKEN=$(BASE="$BASE" USER_NAME="$USER_NAME" PASSWORD="$PASSWORD" "$VENV/bin/python" - <<'EOF'
import json, os, urllib.request
req = urllib.request.Request(
    os.environ["BASE"] + "/api/v1/login",
    data=json.dumps({"name": os.environ["USER_NAME"], "password": os.environ["PASSWORD"]}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=60) as r:
    print(json.load(r)["token"])
EOF
)

# Each security scheme of the document gets its own credentials. Logins
# get few examples: failed attempts for a name are slowed down on purpose
# (up to 8 s each), as on every door.
cat >"$WORK/schemathesis.toml" <<EOF
[generation]
max-examples = $MAX_EXAMPLES

[auth.openapi.token]
bearer = "\${USER_TOKEN}"

[auth.openapi.admin]
bearer = "\${ADMIN_TOKEN}"

[[operations]]
include-path = "/api/v1/login"
generation.max-examples = 8

EOF

# Logging out, refreshing and changing the password void the run's own
# token (that is what they are for), which would leave every later call a
# 401; they are tested over real sockets (tests/abuse/auth.rs) instead.
REPORTS="$TARGET/schemathesis-report"
status=0
# From the temp dir, so that schemathesis's own cache stays out of the repo.
(cd "$WORK" && "$ROOT_VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" --no-color run "$BASE/api/openapi.json" \
    --checks all \
    --exclude-path-regex '^/api/v1/(logout|token|password)' \
    ${ST_MAX_TIME:+--max-time "$ST_MAX_TIME"} \
    --seed "${ST_SEED:-1}" \
    --generation-database none \
    --request-timeout 10 \
    --workers 1 \
    --report junit --report-dir "$REPORTS") || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server died during the run:" >&2
    cat "$WORK/server.err" >&2
    status=1
fi
if grep -q "panicked" "$WORK/server.err"; then
    echo "the server panicked during the run:" >&2
    grep -A5 "panicked" "$WORK/server.err" >&2
    status=1
fi
exit "$status"
