#!/usr/bin/env bash
# The full-screen client's budgets (issue 12), measured on this machine:
#
#  1. the first frame within 200 ms of connecting, whatever the number of
#     rooms: an account in $ROOMS rooms (each with $HISTORY messages of
#     history) starts `confab connect --login` in tmux $RUNS times; the
#     client's CONFAB_CLIENT_TIMING file says when the session was logged
#     in (`connected`) and when the first frame after it was drawn
#     (`first_frame`, with the number of buffers it showed);
#  2. memory bounded however long it runs: another user sends messages to
#     $FLOOD_ROOMS of those rooms, and the client's RSS (/proc/PID/status)
#     is read after 5,000, 20,000 and 50,000 of them have reached its
#     screen. Each buffer keeps at most model::SCROLLBACK (2,000) items, so
#     from 2 rooms x 2,500 on the RSS must stay flat.
#
# Usage: scripts/tui-budget.sh            (release build)
#        PROFILE=debug scripts/tui-budget.sh
# Knobs: ROOMS=200 HISTORY=5 RUNS=5 FLOOD_ROOMS=2. Needs tmux and python3.
# Everything it starts (a server, a tmux server, line-mode clients) is
# stopped by PID on exit; its files live in a temporary directory.
set -euo pipefail

ROOMS=${ROOMS:-200}
HISTORY=${HISTORY:-5}
RUNS=${RUNS:-5}
FLOOD_ROOMS=${FLOOD_ROOMS:-2}
PROFILE=${PROFILE:-release}

cd "$(dirname "$0")/.."
if [ "$PROFILE" = release ]; then
    cargo build --quiet --release -p confab
else
    cargo build --quiet -p confab
fi
BIN=$PWD/target/$PROFILE/confab

D=$(mktemp -d)
SOCK=confab-budget-$$
SERVER_PID=
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$D"
}
trap cleanup EXIT

# Polls COMMAND until it succeeds, for at most SECS seconds.
wait_until() {
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        if [ $SECONDS -ge $end ]; then echo "tui-budget: timed out waiting for $what" >&2; exit 1; fi
        sleep 0.05
    done
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
PASSWORD=budget-password-123
export CONFAB_LIMITS__RATE_PER_SEC=1000000 CONFAB_LIMITS__RATE_BURST=1000000 \
    CONFAB_LIMITS__MAX_ROOMS_PER_USER=$((ROOMS + 10)) CONFAB_LIMITS__SEND_QUEUE=65536 \
    CONFAB_LIMITS__SNIFF_TIMEOUT_MS=50 HOME=$D

"$BIN" admin init --data-dir "$D/data" >/dev/null
echo "$PASSWORD" | "$BIN" user add alice --data-dir "$D/data" >/dev/null
"$BIN" serve --listen "$ADDR" --data-dir "$D/data" >"$D/serve.out" 2>"$D/serve.log" &
SERVER_PID=$!
wait_until 20 "the server" grep -q "confab listening on" "$D/serve.out"

# alice joins $ROOMS rooms and leaves $HISTORY messages in each (line mode
# waits for each line's answer before the next).
python3 - "$ROOMS" "$HISTORY" >"$D/setup.txt" <<'EOF'
import sys
rooms, history = int(sys.argv[1]), int(sys.argv[2])
for r in range(1, rooms + 1):
    print(f"/join #r{r}")
    for i in range(1, history + 1):
        print(f"history line {i} of #r{r}")
EOF
CONFAB_PASSWORD=$PASSWORD "$BIN" connect "$ADDR" --name alice --login <"$D/setup.txt" >/dev/null 2>"$D/setup.err" ||
    { echo "tui-budget: setting up the rooms failed:" >&2; cat "$D/setup.err" >&2; exit 1; }

# Starts the full-screen client for alice in a fresh tmux session; prints
# its PID.
start_client() {
    local session=$1
    tmux -L "$SOCK" new-session -d -s "$session" -x 120 -y 40 \
        -e "HOME=$D" -e TERM=xterm-256color -e "CONFAB_PASSWORD=$PASSWORD" \
        -e "CONFAB_CLIENT_TIMING=$D/timing-$session" \
        "exec '$BIN' connect '$ADDR' --name alice --login"
    tmux -L "$SOCK" display-message -p -t "=$session:" '#{pane_pid}'
}
has_first_frame() { grep -q '^first_frame' "$1" 2>/dev/null; }

echo "== first frame: an account in $ROOMS rooms, $HISTORY messages of history each ($PROFILE build)"
for run in $(seq 1 "$RUNS"); do
    start_client "t$run" >/dev/null
    wait_until 30 "the first frame" has_first_frame "$D/timing-t$run"
    awk -v run="$run" '
        $1 == "connected" { c = $2 }
        $1 == "first_frame" { f = $2; b = $3 }
        END { printf "run %d: connected at %.1f ms, first frame at %.1f ms (%s): %.1f ms after connecting\n", run, c, f, b, f - c }
    ' "$D/timing-t$run"
    tmux -L "$SOCK" kill-session -t "=t$run:" 2>/dev/null || true  # the last session takes the tmux server with it
done

echo "== memory: messages to $FLOOD_ROOMS rooms while the client runs"
PID=$(start_client m)
wait_until 30 "the first frame" has_first_frame "$D/timing-m"
rss() { awk '/^VmHWM/ { peak = $2 " " $3 } /^VmRSS/ { rss = $2 " " $3 } END { printf "%s (peak %s)", rss, peak }' "/proc/$PID/status"; }
echo "after connecting: RSS $(rss)"
# The room on alice's screen: its name is the topic line's first word.
OPEN=$(tmux -L "$SOCK" capture-pane -p -t "=m:" | head -1 | awk '{ print $1 }')

# bob (a guest in line mode) sends TO messages in all, numbered from FROM,
# then a marker to the room alice has open; returns once the marker shows
# on her screen (the server keeps order, so all before it arrived too).
flood() {
    local from=$1 to=$2 marker=$3
    python3 - "$FLOOD_ROOMS" "$from" "$to" "$OPEN" "$marker" >"$D/flood.txt" <<'EOF'
import sys
rooms, first, last, open_room, marker = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
for r in range(1, rooms + 1):
    print(f"/join #r{r}")
print(f"/join {open_room}")
for i in range(first, last + 1):
    print(f"/msg #r{i % rooms + 1} flood message number {i}, long enough to be a realistic line of chat text")
print(f"/msg {open_room} {marker}")
EOF
    "$BIN" connect "$ADDR" --name bob <"$D/flood.txt" >/dev/null 2>"$D/flood.err" ||
        { echo "tui-budget: the flood failed:" >&2; cat "$D/flood.err" >&2; exit 1; }
    wait_until 120 "$marker on the client's screen" \
        sh -c "tmux -L '$SOCK' capture-pane -p -t '=m:' | grep -q '$marker'"
}
sent=0
for upto in 5000 20000 50000; do
    flood $((sent + 1)) "$upto" "marker-$upto"
    sent=$upto
    echo "after $sent messages: RSS $(rss)"
done
