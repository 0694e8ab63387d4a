#!/bin/bash
# run-oss.sh - the OSS conformance suite: starts otsync-emu on 127.0.0.1 (free ports) with a
# --data directory, runs oss.js (ali-oss as the client) against it, restarts the emulator on the
# same directory and runs `oss.js --after-restart` to check what was saved; all of it twice, the
# second time with an STS token required. Exit 77 (skipped) only when node is not installed.
set -u
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
EMU="$top_builddir/otsync-emu"
DIR="$top_srcdir/tests/conformance"

if [ ! -d "$DIR/node_modules/ali-oss" ]; then
    # package-lock.json pins ali-oss and everything under it
    (cd "$DIR" && npm ci --no-audit --no-fund) || { echo "not ok - npm ci in $DIR failed"; exit 1; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/otsync-oss-conf.XXXXXX")
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

# start_emu LOG [OPTION...]: starts otsync-emu, waits for its JSON line, exports OTSYNC_EMU_OSS
start_emu() {
    local log=$1 line="" _
    shift
    "$top_builddir/otsync-emu" --listen 127.0.0.1:0 "$@" >"$log.out" 2>"$log.err" &
    PID=$!
    for _ in $(seq 1 100); do
        line=$(head -n 1 "$log.out")
        [ -n "$line" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    OTSYNC_EMU_OSS=$(printf '%s\n' "$line" | sed -n 's/.*"oss":"\([^"]*\)".*/\1/p')
    export OTSYNC_EMU_OSS
    if [ -z "$OTSYNC_EMU_OSS" ]; then
        echo "not ok - otsync-emu did not announce its endpoints"
        sed 's/^/#   /' "$log.err"
        stop_emu
        return 1
    fi
}

# pass LOG [ARG...]: one run of oss.js against the running emulator, which it then stops
pass() {
    local log=$1 rc
    shift
    echo "# $(basename "$log"): $OTSYNC_EMU_OSS"
    (cd "$DIR" && timeout 300 node oss.js "$@")
    rc=$?
    stop_emu        # SIGTERM: the emulator saves under --data on its way out
    if [ "$rc" -ne 0 ] || grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" \
        "$log.err"; then
        echo "not ok - $(basename "$log"): oss.js exited $rc; otsync-emu's log follows"
        sed 's/^/#   /' "$log.err"
        FAIL=1
    fi
}

[ -x "$EMU" ] || { echo "not ok - $EMU is not built"; exit 1; }
export OTSYNC_EMU_ACCESS_KEY_ID=conformance-id
export OTSYNC_EMU_ACCESS_KEY_SECRET=conformance-secret/+0123456789
for mode in plain sts; do
    if [ "$mode" = sts ]; then
        export OTSYNC_EMU_STS_TOKEN=conformance-sts-token.0123
    else
        unset OTSYNC_EMU_STS_TOKEN
    fi
    export OTSYNC_CONF_MANIFEST="$WORK/$mode.manifest.json"
    start_emu "$WORK/$mode" --data "$WORK/data-$mode" && pass "$WORK/$mode" || FAIL=1
    start_emu "$WORK/$mode-restart" --data "$WORK/data-$mode" \
        && pass "$WORK/$mode-restart" --after-restart || FAIL=1
done
[ "$FAIL" -eq 0 ] || echo "kept $WORK for inspection"
exit "$FAIL"
