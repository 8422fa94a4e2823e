#!/usr/bin/env bash
# Runs confab-bench's workloads against confab (over IRC, the line
# protocol and WebSocket), the generator's bare relay (`relay`: no chat
# logic, the reference for fan-out) and, where installed from Debian, the
# IRC servers ngIRCd and InspIRCd (over IRC), with the server pinned to
# one core and the load generator to another, a fresh server for every
# workload; prints one table. See docs/benchmarks.md.
#
#   scripts/bench.sh [--quick] [--debug] [--only "confab ngircd inspircd relay"] [--protos "irc line ws"]
#                    [--workloads "fanout rooms pm register idle storm"] [--data DIR]
#
# --quick: small counts and short runs (seconds), to check the script.
# --debug: use the debug build (figures are then meaningless).
# --data: confab's data dirs under DIR (removed after each run), e.g.
#   /dev/shm: syncs that cost nothing, to see the software's own tail
#   apart from the disk's; the table's first line says so.
# Results (one JSON report per run) stay in $BENCH_OUT (default: a temp dir).
# Peers: NGIRCD=/path/to/ngircd, INSPIRCD=/path/to/inspircd override `which`
# (INSPIRCD_MODULES its module dir, default /usr/lib/inspircd/modules).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
quick=0 profile=release only="confab ngircd inspircd relay" protos="irc line ws" data_root=
workloads="fanout rooms pm register idle storm"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --debug) profile=debug ;;
        --only) only=$2; shift ;;
        --protos) protos=$2; shift ;;
        --workloads) workloads=$2; shift ;;
        --data) data_root=$2; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

out=${BENCH_OUT:-$(mktemp -d /tmp/confab-bench.XXXXXX)}
mkdir -p "$out"
if [ -n "$data_root" ] && [ ! -d "$data_root" ]; then
    echo "--data $data_root: not a directory" >&2
    exit 2
fi
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$profile" = release ]; then
    (cd "$root" && cargo build --release -p confab -p confab-bench)
else
    (cd "$root" && cargo build -p confab -p confab-bench)
fi
confab="$root/target/$profile/confab"
bench="$root/target/$profile/confab-bench"

# Pinning: server on core 0, generator on core 1, when there are two.
server_pin=() bench_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    server_pin=(taskset -c 0) bench_pin=(taskset -c 1)
fi

if [ "$quick" = 1 ]; then
    fanout=(--clients 50 --senders 5 --rate 200 --step-secs 1 --duration 6)
    rooms=(--clients 200 --rooms 20 --rate 2 --duration 3)
    pm=(--pairs 100 --rate 5 --duration 3)
    idle=(--clients 500 --duration 2 --sources 2)
    register=(--clients 500 --sources 16)
    storm=(--clients 200 --duration 30)
else
    fanout=(--clients 500 --senders 10 --rate 1000 --step-secs 3 --duration 60)
    rooms=(--clients 2000 --rooms 200 --rate 2 --duration 10)
    pm=(--pairs 1000 --rate 5 --duration 10)
    idle=(--clients 10000 --duration 5 --sources 4)
    # 15,000: at 5,000 the phase lasts a quarter of a second, and its
    # start and end weigh on the rate (16-21k/s where 15,000 showed 19-27k).
    register=(--clients 15000 --sources 16)
    storm=(--clients 1000 --duration 120)
fi

port=17800
server_pid= data_dir=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
    if [ -n "$data_dir" ]; then
        rm -rf "$data_dir"
        data_dir=
    fi
}
trap cleanup EXIT INT TERM

# Waits (at most 10 s) until something listens on $port.
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

start_confab() {
    local dir=$1 data=$1/data
    if [ -n "$data_root" ]; then
        data=$(mktemp -d "$data_root/confab-bench-data.XXXXXX")
        data_dir=$data
    fi
    "${server_pin[@]}" "$confab" serve --config "$root/scripts/bench-confab.toml" \
        --data-dir "$data" --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
    server_pid=$!
}

# ngIRCd with the same loopback allowances: no per-address limit, deep
# send queue, no penalty for fast clients is not configurable (noted).
start_ngircd() {
    local dir=$1
    cat >"$dir/ngircd.conf" <<EOF
[Global]
    Name = bench.ngircd
    Info = bench
    Listen = 127.0.0.1
    Ports = $port
    PidFile = $dir/ngircd.pid
    MotdPhrase = bench
[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxNickLength = 9
    MaxListSize = 100
    PingTimeout = 600
    PongTimeout = 600
[Options]
    DNS = no
    Ident = no
    PAM = no
    SyslogFacility = local7
[SSL]
EOF
    "${server_pin[@]}" "$ngircd" --nodaemon --config "$dir/ngircd.conf" >"$dir/server.log" 2>&1 &
    server_pid=$!
}

# InspIRCd with a <connect> class for loopback: no per-host limit, no
# flood throttle, a deep send queue.
start_inspircd() {
    local dir=$1
    cat >"$dir/inspircd.conf" <<EOF
<path moduledir="$inspircd_modules">
<server name="bench.inspircd" description="bench" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$port" type="clients">
<connect name="bench" allow="127.0.0.0/8" maxchans="100" timeout="60" pingfreq="600"
    hardsendq="1073741824" softsendq="1073741824" recvq="1048576" threshold="1000000"
    commandrate="100000000" fakelag="off" localmax="1000000" globalmax="1000000"
    maxconnwarn="off" resolvehostnames="no" useident="no" limit="1000000">
<files motd="$dir/motd.txt">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="11" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200">
<options defaultmodes="nt">
<performance netbuffersize="10240" somaxconn="4096" softlimit="1000000" clonesonconnect="no" quietbursts="yes">
<security hidesplits="no" hidebans="no" maxtargets="20" runasuser="" runasgroup="">
<pid file="$dir/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$dir/inspircd.log">
EOF
    echo bench >"$dir/motd.txt"
    "${server_pin[@]}" "$inspircd" --nofork --nopid --runasroot --config "$dir/inspircd.conf" \
        >"$dir/server.log" 2>&1 &
    server_pid=$!
}

# The bare relay: confab-bench's own, pinned like the servers.
start_relay() {
    local dir=$1
    "${server_pin[@]}" "$bench" relay --listen "127.0.0.1:$port" --for 900 >"$dir/server.log" 2>&1 &
    server_pid=$!
}

# Connections closed by earlier runs stay a minute in TIME_WAIT. With the
# kernel's limit of them reached (net.ipv4.tcp_max_tw_buckets, 131,072
# here), registration runs fell to 1,000-12,000 logins a second. Before a
# workload that opens thousands, waits (at most 70 s) until few are left.
settle_time_wait() {
    command -v ss >/dev/null || return 0
    for _ in $(seq 70); do
        [ "$(ss -tan state time-wait | wc -l)" -lt 30000 ] && return 0
        sleep 1
    done
}

run_one() { # server proto workload
    local server=$1 proto=$2 w=$3
    case "$w" in register|idle|storm) settle_time_wait ;; esac
    port=$((port + 1))
    local dir="$out/$server-$proto-$w"
    mkdir -p "$dir"
    "start_$server" "$dir"
    if ! wait_port; then
        echo "$server did not start; see $dir/server.log" >&2
        cleanup
        return 0
    fi
    local -n args="$w"
    if ! "${bench_pin[@]}" "$bench" "$w" --proto "$proto" --addr "127.0.0.1:$port" \
        --server-pid "$server_pid" "${args[@]}" --json >"$dir/report.json" 2>"$dir/bench.err"; then
        echo "$server $proto $w failed: $(tail -1 "$dir/bench.err")" >&2
        rm -f "$dir/report.json"
    fi
    cleanup
}

ngircd=${NGIRCD:-$(command -v ngircd || true)}
inspircd=${INSPIRCD:-$(command -v inspircd || true)}
inspircd_modules=${INSPIRCD_MODULES:-/usr/lib/inspircd/modules}
for server in $only; do
    case "$server" in
        confab) server_protos=$protos ;;
        ngircd) [ -n "$ngircd" ] || { echo "ngircd not installed: skipped" >&2; continue; }; server_protos=irc ;;
        inspircd) [ -n "$inspircd" ] || { echo "inspircd not installed: skipped" >&2; continue; }; server_protos=irc ;;
        relay) server_protos=irc ;;
        *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    for proto in $server_protos; do
        case " $protos " in *" $proto "*) ;; *) continue ;; esac
        for w in $workloads; do
            echo "== $server $proto $w" >&2
            run_one "$server" "$proto" "$w"
        done
    done
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), commit $(cd "$root" && git rev-parse --short HEAD), $profile build$([ "$quick" = 1 ] && echo ', quick counts')$([ -n "$data_root" ] && echo ", confab's data in $data_root ($(df --output=fstype "$data_root" | tail -1))")"
python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
rows = []
for d in sorted(os.listdir(out)):
    p = os.path.join(out, d, "report.json")
    if not os.path.exists(p):
        continue
    r = json.load(open(p))
    server = d.split("-")[0]
    w, proto = r["workload"], r["proto"]
    ph = r.get("phases") or []
    def ms(v): return f"{v:.2f} ms"
    def cpu(v): return "-" if v is None else f"{v:.2f}"
    if w == "fanout":
        b = r.get("best")
        fig = f"{ph[b]['deliveries_per_sec']:,.0f} deliveries/s (p99 {ms(ph[b]['latency']['p99_ms'])}, cpu {cpu(ph[b]['server_cpu'])})" if b is not None else "no step held"
    elif w in ("rooms", "pm"):
        p = ph[0]
        fig = f"p50 {ms(p['latency']['p50_ms'])} / p99 {ms(p['latency']['p99_ms'])} / cpu {cpu(p['server_cpu'])}; lost {p['lost']}"
        # Stalls or a spread tail: 100 ms windows of send time past the p99.
        t = p.get("tail")
        if t:
            fig += f"; p99 passed in {t['over_p99']} of {t['windows']} windows"
    elif w == "register":
        fig = f"{r['logins']['per_sec']:,.0f} /s"
    elif w == "idle":
        i = r["idle"]
        per = i["rss_per_connection"]
        fig = f"{per/1024:.1f} KB RSS per connection ({i['connections']} held)" if per is not None else "-"
    elif w == "storm":
        s = r["storm"]
        st = s["settled_secs"]
        fig = (f"settled in {st:.2f} s" if st is not None else "not settled") + f" ({s['clients']} clients; join p99 {ms(s['join_latency']['p99_ms'])})"
    else:
        fig = "?"
    if r.get("errors"):
        fig += f"  [errors: {len(r['errors'])}]"
    rows.append((w, f"{server}/{proto}", fig))
order = {"fanout": 0, "rooms": 1, "pm": 2, "register": 3, "idle": 4, "storm": 5}
rows.sort(key=lambda r: (order.get(r[0], 9), r[1]))
print(f"| {'workload':<9} | {'server/proto':<14} | result |")
print(f"|{'-'*11}|{'-'*16}|--------|")
for w, s, f in rows:
    print(f"| {w:<9} | {s:<14} | {f} |")
EOF
echo "reports: $out" >&2
