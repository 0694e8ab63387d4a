#!/bin/bash
# run-ots.sh - the Table Store conformance suite: starts otsync-emu on 127.0.0.1 (free ports)
# with a --data directory, runs ots.js (the official "tablestore" SDK as the client) against
# it, restarts the emulator on the same directory and checks that the tables and rows came
# back. Exit 77 (skipped) only when node is not installed.
set -u
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
EMU="$top_builddir/otsync-emu"
DIR="$top_srcdir/tests/conformance"

if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
if [ ! -d "$DIR/node_modules/tablestore" ]; then
    # package-lock.json pins tablestore and everything under it
    (cd "$DIR" && npm ci --no-audit --no-fund) || { echo "not ok - npm ci in $DIR failed"; exit 1; }
fi
[ -x "$EMU" ] || { echo "not ok - $EMU is not built"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otsync-ots-conf.XXXXXX")
PID=""
FAIL=0
stop_emu() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
        PID=""
    fi
}
trap 'stop_emu; [ "$FAIL" -ne 0 ] || rm -rf "$WORK"' EXIT

# start_emu LOG: starts otsync-emu on $WORK/data, waits for its JSON line, sets OTS
start_emu() {
    local line="" i
    "$EMU" --listen 127.0.0.1:0 --data "$WORK/data" >"$1.out" 2>"$1.err" &
    PID=$!
    for i in $(seq 1 100); do
        line=$(head -n 1 "$1.out")
        [ -n "$line" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    OTS=$(printf '%s\n' "$line" | sed -n 's/.*"ots":"\([^"]*\)".*/\1/p')
    [ -n "$OTS" ] || { echo "not ok - otsync-emu did not announce its endpoints"; cat "$1.err"; return 1; }
}
# sanitizers: a report in the emulator's log fails the suite
clean_log() {
    if grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" "$1.err"; then
        echo "not ok - otsync-emu's log has a sanitizer report:"
        sed 's/^/#   /' "$1.err"
        FAIL=1
    fi
}

export OTSYNC_EMU_ACCESS_KEY_ID=conformance-id
export OTSYNC_EMU_ACCESS_KEY_SECRET=conformance-secret/+0123456789
start_emu "$WORK/first" || exit 1
(cd "$DIR" && OTSYNC_EMU_OTS=$OTS timeout 300 node ots.js) || FAIL=1
rows=$(curl -s "$OTS/_emu/ots/rows?instance=conformance&table=conf_t1" | sed -n 's/^{"count":\([0-9]*\),.*/\1/p')
stop_emu
clean_log "$WORK/first"
start_emu "$WORK/second" || exit 1
after=$(curl -s "$OTS/_emu/ots/rows?instance=conformance&table=conf_t1" | sed -n 's/^{"count":\([0-9]*\),.*/\1/p')
shards=$(curl -s "$OTS/_emu/ots/shards?instance=conformance&table=conf_t1" | grep -o '"id"' | wc -l)
stop_emu
clean_log "$WORK/second"
if [ -n "$rows" ] && [ "$rows" = "$after" ] && [ "$shards" -eq 4 ]; then
    echo "ok - --data: the $rows rows and the 4 stream shards are back after a restart"
else
    echo "not ok - --data: $rows rows before the restart, '$after' after, $shards shards"
    FAIL=1
fi
[ "$FAIL" -eq 0 ] || echo "kept $WORK for inspection"
exit "$FAIL"
