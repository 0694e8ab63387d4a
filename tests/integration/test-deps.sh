#!/bin/bash
# Dependencies on a simulated clock (x240: a simulated hour in 15 s): a 5-minute extraction
# feeding an hourly task feeding a daily one, over the first three hours of a day. Every
# downstream instance starts after exactly the upstream instances the rules name; a failed
# extraction blocks its hour and the day until it is rerun, after which the chain completes;
# rerun --downstream, backfill --downstream --parallel, show, graph and instances --tree; a
# reload bringing in a cycle is refused; and otsyncd -t rejects a three-task cycle naming all
# three tasks.
. "$(dirname "$0")/lib.sh"
CTL="$top_builddir/otsyncctl"

daemon_config "max_running: 4" "log_level: info"
job() {     # job READER-PARAMETERS: a stream job, inline
    cat <<EOT
    job:
      type: job
      version: "2.0"
      configuration:
        reader: {plugin: stream, parameter: {$1, column: [{type: string, value: "\${bdp.system.cyctime}"}]}}
        writer: {plugin: stream, parameter: {print: true}}
EOT
}
{
    echo "tasks:"
    echo "  - name: extract"
    echo "    schedule: {cycle: minute, interval: 5, end: \"02:59\"}"
    echo "    retries: 0"
    job "failIfExists: \"$WORK/fail-\${bdp.system.cyctime}\""
    echo "  - name: hourly"
    echo "    schedule: {cycle: hour, end: \"02:00\"}"
    echo "    depends_on: [extract]"
    job "sliceRecordCount: 1"
    echo "  - name: daily"
    echo "    schedule: {cycle: day}"
    echo "    depends_on: [hourly]"
    job "sliceRecordCount: 1"
} > "$WORK/tasks.d/chain.yaml"
touch "$WORK/fail-20181016003000"
ctl() { "$CTL" -c "$WORK/otsyncd.yaml" "$@"; }
out() { ctl "$@" > "$WORK/out" 2> "$WORK/err"; RC=$?; OUT=$(cat "$WORK/out"); }
state_of() { ctl --json show "$1" 2>/dev/null | grep -o '"state": "[a-z_]*"' | head -n 1 | cut -d'"' -f4; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
secs() { TZ=Asia/Shanghai date -d "$(echo "$1" | tr T ' ')" +%s; }
# stamp ID started|success: the simulated second of the instance's latest such log line
stamp() {
    local pat
    if [ "$2" = started ]; then pat="instance $1: attempt [0-9]* started"
    else pat="instance $1: success after"; fi
    local t
    t=$(grep "$pat" "$WORK/daemon.log" | tail -n 1 | sed 's/.*\[clock \([0-9T:-]*\)\].*/\1/')
    [ -n "$t" ] && secs "$t"
}
fmt() { TZ=Asia/Shanghai date -d "@$1" +%Y%m%d%H%M%S; }
base=$(secs 2018-10-16T00:00:00)

check "otsyncd -t accepts the chain" "$OTSYNCD" -t -c "$WORK/otsyncd.yaml"

"$OTSYNCD" -c "$WORK/otsyncd.yaml" --foreground --clock 2018-10-15T23:59:00,x240 \
    2>> "$WORK/daemon.log" &
DPID=$!
PIDS="$DPID"
wait_for 10 test -S "$WORK/state/otsyncd.sock" || not_ok "the socket appears"

# --- the first three hours: 00:30 fails; 01:00 waits for it, 02:00 does not
wait_for 90 grep -q 'instance hourly@20181016020000: success' "$WORK/daemon.log" \
    || not_ok "hourly@02:00 succeeded within 90 s"
check_eq "extract@00:30 failed" failed "$(state_of extract@20181016003000)"
check_eq "hourly@01:00 waits" waiting "$(state_of hourly@20181016010000)"
check_eq "daily@10-16 waits" waiting "$(state_of daily@20181016000000)"
out show hourly@20181016010000
check "show names the failed upstream instance it waits for" \
    has "waits for    extract@20181016003000 (failed)" "$OUT"
check "show counts the upstream instances: 11 of 12 done" has "11 of 12 done" "$OUT"
out show daily@20181016000000
check "show daily: waits for hourly@01:00" has "waits for    hourly@20181016010000 (waiting)" "$OUT"
check "show daily: 2 of 3 hourly instances done" has "2 of 3 done" "$OUT"
check "hourly@01:00 never started" test -z "$(stamp hourly@20181016010000 started)"
check "the daemon logged what hourly@01:00 waits for" grep -q \
    'instance hourly@20181016010000: waiting for upstream extract@' "$WORK/daemon.log"

# --- rerun the failed extraction: the hour, then the day follow
rm -f "$WORK/fail-20181016003000"
out rerun extract@20181016003000
check_eq "rerun exits 0" 0 "$RC"
wait_for 30 grep -q 'instance daily@20181016000000: success' "$WORK/daemon.log" \
    || not_ok "daily@10-16 succeeded after the rerun"
check_eq "hourly@01:00 succeeded" success "$(state_of hourly@20181016010000)"

# --- every downstream instance started after exactly the upstream instances the rules name
wait_for 30 grep -q 'instance extract@20181016020500: success' "$WORK/daemon.log" \
    || not_ok "extract@02:05 succeeded"
for h in 0 1 2; do
    ht=$((base + h * 3600))
    hid="hourly@$(fmt $ht)"
    hs=$(stamp "$hid" started)
    # an hour child of a 5-minute parent: the parent's (t - 1 h, t]; none before 00:00 exists
    late=0; first=$((ht - 3600 + 300)); [ $first -lt $base ] && first=$base
    for ((x = first; x <= ht; x += 300)); do
        xs=$(stamp "extract@$(fmt $x)" success)
        [ -n "$xs" ] && [ "$hs" -ge "$xs" ] || late=1
    done
    check "$hid started after each extraction of its hour" test "$late" -eq 0
    # and not after the next hour's: it started before extract@t+5min did (unless blocked)
    nx=$(stamp "extract@$(fmt $((ht + 300)))" started)
    if [ $h -ne 1 ]; then
        check "$hid did not wait for later extractions" test "$hs" -lt "$nx"
    fi
done
ds=$(stamp daily@20181016000000 started)
late=0
for h in 0 1 2; do
    [ "$ds" -ge "$(stamp "hourly@$(fmt $((base + h * 3600)))" success)" ] || late=1
done
check "daily started after each of the day's hourly instances" test "$late" -eq 0
check "hourly@02:00 ran while 00:30 was failed (before the rerun)" \
    test "$(stamp hourly@20181016020000 started)" -lt "$(stamp extract@20181016003000 started)"

# --- rerun --downstream: the instance, its hour and its day, in that order
out rerun extract@20181016003000 --downstream
check_eq "rerun --downstream exits 0" 0 "$RC"
check_eq "rerun --downstream names the chain in dependency order" \
    "rerun extract@20181016003000 rerun hourly@20181016010000 rerun daily@20181016000000" \
    "$(echo $OUT)"
wait_for 30 grep -q 'instance daily@20181016000000: success after 2 attempts' "$WORK/daemon.log" \
    || not_ok "the rerun chain completed"
check "rerun chain: hourly after extract" \
    test "$(stamp hourly@20181016010000 started)" -ge "$(stamp extract@20181016003000 success)"
check "rerun chain: daily after hourly" \
    test "$(stamp daily@20181016000000 started)" -ge "$(stamp hourly@20181016010000 success)"

# --- the views
out graph
check_eq "graph exits 0" 0 "$RC"
check "graph is dot" has "digraph otsync {" "$OUT"
check "graph: extract feeds hourly" has '"extract" -> "hourly"' "$OUT"
check "graph: hourly feeds daily" has '"hourly" -> "daily" [label="that day"]' "$OUT"
out graph nosuch
check_eq "graph of an unknown task exits 1" 1 "$RC"
out instances --date 2018-10-16 --tree
check_eq "instances --tree exits 0" 0 "$RC"
check "tree: hourly@01:00 under extract@01:00" \
    grep -q '^  hourly@20181016010000 ' "$WORK/out"
check "tree: daily under hourly@02:00" grep -q '^    daily@20181016000000 ' "$WORK/out"
check "tree: extract@01:00 is a root" grep -q '^extract@20181016010000 ' "$WORK/out"
out instances --tree
check_eq "instances --tree without --date exits 1" 1 "$RC"

# --- backfill two past dates with their descendants, one date at a time
out backfill extract --from 2018-10-14T00:00:00 --to 2018-10-15T02:55:00 --downstream \
    --parallel 1
check_eq "backfill --downstream exits 0" 0 "$RC"
check "backfill plans 2 dates of 36 extractions, 3 hours, 1 day" \
    has "40 instance(s) created, 80 planned over 2 date(s)" "$OUT"
wait_for 60 is_state daily@20181015000000 success || not_ok "the backfilled 10-15 completed"
check_eq "backfilled daily@10-14 succeeded" success "$(state_of daily@20181014000000)"
check "10-15's chain started after 10-14's had finished" \
    test "$(stamp extract@20181015000000 started)" -ge "$(stamp daily@20181014000000 success)"
check "backfilled daily@10-14 after its hours" \
    test "$(stamp daily@20181014000000 started)" -ge "$(stamp hourly@20181014020000 success)"
out backfill extract --from 2018-10-14T00:00:00 --to 2018-10-14T01:00:00 --parallel 0
check_eq "backfill --parallel 0 is a usage error" 2 "$RC"

# --- a reload that would bring in a cycle is refused; the running catalogue stays
cp "$WORK/tasks.d/chain.yaml" "$WORK/chain.yaml.good"
{
    echo "  - name: loop1"
    echo "    schedule: {cycle: day}"
    echo "    depends_on: [loop2]"
    job "sliceRecordCount: 1"
    echo "  - name: loop2"
    echo "    schedule: {cycle: day}"
    echo "    depends_on: [loop1]"
    job "sliceRecordCount: 1"
} >> "$WORK/tasks.d/chain.yaml"
out reload
check_eq "a reload with a dependency cycle exits 1" 1 "$RC"
check "the refusal names the cycle" grep -q "dependency cycle loop1 -> loop2 -> loop1" "$WORK/err"
cp "$WORK/chain.yaml.good" "$WORK/tasks.d/chain.yaml"
out tasks
check "the running catalogue stayed" test "$(grep -c '^loop' "$WORK/out")" -eq 0

kill -TERM "$DPID"
wait "$DPID"; rc=$?
PIDS=""
check_eq "otsyncd exits 0 on SIGTERM" 0 "$rc"

# --- a three-task cycle is refused, naming every task on it
mkdir -p "$WORK/cyc/tasks.d"
cp "$WORK/otsyncd.yaml" "$WORK/cyc/otsyncd.yaml"
{
    echo "tasks:"
    for p in "load extract" "extract report" "report load"; do
        set -- $p
        echo "  - name: $1"
        echo "    schedule: {cycle: day}"
        echo "    depends_on: [$2]"
        job "sliceRecordCount: 1"
    done
} > "$WORK/cyc/tasks.d/cycle.yaml"
"$OTSYNCD" -t -c "$WORK/cyc/otsyncd.yaml" > "$WORK/t.out" 2>&1; rc=$?
check_eq "otsyncd -t exits 1 on a dependency cycle" 1 "$rc"
check "otsyncd -t names the cycle with all three tasks, at file:line:col" grep -q \
    "cycle.yaml:4:18: error: task 'load': depends_on: a dependency cycle load -> extract -> report -> load" \
    "$WORK/t.out"
if [ "$T_FAIL" -ne 0 ]; then
    echo "--- the daemon's log, for the failures above:"
    grep -v ': created ' "$WORK/daemon.log" | head -n 150
    cat "$WORK/t.out"
fi
finish
