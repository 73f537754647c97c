#!/bin/bash
# CI smoke test of vestnik-bench against vestnikd: a few connections for a few
# seconds; fails on any lost or duplicated message or failed sign-in. No timing
# thresholds.
#
#   bench/smoke.sh [--muc] VESTNIKD VESTNIKCTL
#
# --muc adds a room fan-out smoke (vestnik-bench muc: 10 occupants join one
# room on conference.localhost, a few hundred groupchat messages, nothing may
# be lost or duplicated); it fails, saying so, while vestnikd has no MUC
# service, which is why it is not on by default yet.
#
# vestnik-bench is taken from $VESTNIK_BENCH, else from bench/ next to VESTNIKD
# in the build directory, else built with bench/build.sh.
set -uo pipefail

MUC=0
if [ "${1:-}" = --muc ]; then
    MUC=1
    shift
fi
if [ $# -ne 2 ]; then
    echo "usage: $0 [--muc] VESTNIKD VESTNIKCTL" >&2
    exit 2
fi
VESTNIKD=$(realpath "$1")
VESTNIKCTL=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
USERS=10
TMP=$(mktemp -d /tmp/vestnik-bench-smoke.XXXXXX)
PID=""

finish() {
    local rc=$1 msg=$2
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    if [ "$rc" != 0 ] && [ -f "$TMP/vestnikd.log" ]; then
        echo "--- vestnikd log (last lines)"
        tail -20 "$TMP/vestnikd.log"
    fi
    rm -rf "$TMP"
    echo "$msg"
    exit "$rc"
}

BENCH=${VESTNIK_BENCH:-$(dirname "$VESTNIKD")/bench/vestnik-bench}
if [ ! -x "$BENCH" ]; then
    BENCH=$TMP/vestnik-bench
    "$HERE/build.sh" "$BENCH" >/dev/null || finish 1 "bench smoke: FAILED (could not build vestnik-bench)"
fi

# two free loopback ports in a row
port=$((20000 + RANDOM % 20000))
while ss -Htln "sport = :$port" | grep -q . || ss -Htln "sport = :$((port + 1))" | grep -q .; do
    port=$((port + 2))
done

mkdir -m 700 "$TMP/data"
cat > "$TMP/vestnik.conf" <<EOF
[server]
domain = localhost
data_dir = $TMP/data
log_level = warn
[c2s]
listen = 127.0.0.1:$port
direct_tls = 127.0.0.1:$((port + 1))
; no input shaping, as for the other servers
rate = 0
[auth]
scram_iterations = 4096
EOF

for ((i = 0; i < USERS; i++)); do
    echo smokepass | "$VESTNIKCTL" --config "$TMP/vestnik.conf" user add "smoke$i@localhost" \
        >>"$TMP/vestnikctl.log" 2>&1 || finish 1 "bench smoke: FAILED (vestnikctl user add smoke$i)"
done

"$VESTNIKD" --config "$TMP/vestnik.conf" >"$TMP/vestnikd.log" 2>&1 &
PID=$!
for ((i = 0; i < 100; i++)); do
    ss -Htln "sport = :$port" | grep -q . && break
    kill -0 $PID 2>/dev/null || finish 1 "bench smoke: FAILED (vestnikd exited at start)"
    sleep 0.1
done

common=(-p "$port" -d localhost -u 'smoke%u' -P smokepass -l vestnikd --server-pid "$PID" --timeout 20)
fail=""

echo "== chat: $USERS users in a ring, STARTTLS, flat out for 3 s"
"$BENCH" chat "${common[@]}" -n $USERS --duration 3 --warmup 0.5 --drain 10 || fail="$fail chat"
echo "== chat: direct TLS, 5 users at 20 msg/s each for 2 s"
"$BENCH" chat "${common[@]}" -p $((port + 1)) --tls direct -n 5 --rate 20 --duration 2 --warmup 0 \
    --drain 10 || fail="$fail chat-direct-tls"
echo "== login: $USERS accounts, 2 rounds"
"$BENCH" login "${common[@]}" -n $USERS -c 4 --rounds 2 || fail="$fail login"
echo "== idle: 5 then $USERS sessions"
"$BENCH" idle "${common[@]}" --steps 5,$USERS --settle 0.2 || fail="$fail idle"

done_list="chat, chat over direct TLS, login, idle"
if [ $MUC = 1 ]; then
    echo "== muc: $USERS occupants in one room, 50 msg/s then flat out, 2 s each"
    rc=0
    "$BENCH" muc "${common[@]}" -n $USERS --rates 50,0 --duration 2 --warmup 0.5 --drain 10 \
        --fill-timeout 60 || rc=$?
    case $rc in
    0) done_list="$done_list, muc" ;;
    4) fail="$fail muc(no MUC service on conference.localhost)" ;;
    *) fail="$fail muc" ;;
    esac
fi

kill -0 $PID 2>/dev/null || fail="$fail vestnikd-died"
if [ -n "$fail" ]; then
    finish 1 "bench smoke: FAILED:$fail"
fi
finish 0 "bench smoke: OK ($done_list: nothing lost, duplicated or failed)"
