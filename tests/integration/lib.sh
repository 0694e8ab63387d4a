# Shared helpers for the integration scripts (sourced). Each test gets its own temp dir,
# starts what it needs on 127.0.0.1 only, and stops it on exit.
set -u
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
OTSYNCD="$top_builddir/otsyncd"
OTSYNC_RUN="$top_builddir/otsync-run"
T_PASS=0
T_FAIL=0
PIDS=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/otsync-test.XXXXXX")

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ "$T_FAIL" -eq 0 ]; then rm -rf "$WORK"; else echo "kept $WORK for inspection"; fi
}
trap cleanup EXIT

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $*"; }
check() {   # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# has / lacks TEXT STRING: whether STRING contains TEXT (for check)
has() { grep -qF -- "$1" <<<"$2"; }
lacks() { ! grep -qF -- "$1" <<<"$2"; }
check_eq() {    # check_eq DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected '$2', got '$3'"; fi
}
finish() {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}
# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; fails after SECONDS.
wait_for() {
    limit=$1; shift
    end=$(( $(date +%s) + limit ))
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}

# daemon_config [LINE...]: writes $WORK/otsyncd.yaml with what every daemon test shares (state
# and socket under $WORK/state, the catalogue in $WORK/tasks.d, Shanghai time, this build's
# otsync-run), then the given lines; creates tasks.d.
daemon_config() {
    mkdir -p "$WORK/tasks.d"
    {
        echo "state_dir: state"
        echo "socket: state/otsyncd.sock"
        echo "catalogue: tasks.d/*.yaml"
        echo "timezone: Asia/Shanghai"
        echo "runner: $OTSYNC_RUN"
        for l in "$@"; do echo "$l"; done
    } > "$WORK/otsyncd.yaml"
}

# start_emu [OPTION...]: starts otsync-emu on 127.0.0.1 (free ports), stopped on exit; sets
# EMU_OTS, EMU_OSS, EMU_ODPS and EMU_TUNNEL from the line it prints when ready. Credentials:
# its demo defaults (otsync-emu-id / otsync-emu-secret) unless the environment sets others.
start_emu() {
    "$top_builddir/otsync-emu" --listen 127.0.0.1:0 "$@" > "$WORK/emu.json" 2> "$WORK/emu.log" &
    PIDS="$PIDS $!"
    wait_for 10 test -s "$WORK/emu.json" || { echo "otsync-emu did not start:"; cat "$WORK/emu.log"; return 1; }
    EMU_OTS=$(sed -n 's/.*"ots":"\([^"]*\)".*/\1/p' "$WORK/emu.json")
    EMU_OSS=$(sed -n 's/.*"oss":"\([^"]*\)".*/\1/p' "$WORK/emu.json")
    EMU_ODPS=$(sed -n 's/.*"odps":"\([^"]*\)".*/\1/p' "$WORK/emu.json")
    EMU_TUNNEL=$(sed -n 's/.*"tunnel":"\([^"]*\)".*/\1/p' "$WORK/emu.json")
}
