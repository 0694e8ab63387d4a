#!/bin/bash
# otsyncd end to end on a simulated clock (x120: a simulated hour in 30 s): a 5-minute
# stream->stream task with the vendor's window params, a task that fails twice then succeeds,
# and a self-dependent task whose instance fails for good and blocks its successors.
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/state"
daemon_config "max_running: 4" "log_level: info"
cat > "$WORK/tasks.d/window.yaml" <<'EOT'
tasks:
  - name: window
    schedule: {cycle: minute, start: "00:00", end: "23:59", interval: 5}
    params:
      startTime: $[yyyymmddhh24miss-10/24/60]
      endTime: $[yyyymmddhh24miss-5/24/60]
    job:
      type: job
      version: "1.0"
      configuration:
        setting: {speed: {concurrent: 1}}
        reader:
          plugin: stream
          parameter:
            sliceRecordCount: 1
            column:
              - {type: string, value: "window ${startTime} ${endTime} ${bdp.system.bizdate}"}
        writer: {plugin: stream, parameter: {print: true}}
EOT
cat > "$WORK/tasks.d/flaky.yaml" <<'EOT'
tasks:
  - name: flaky
    schedule: {cycle: day, start: "00:10"}
    retries: 3
    retry_interval: 1m
    job:
      type: job
      version: "1.0"
      configuration:
        reader: {plugin: stream, parameter: {failOnAttempts: 2, column: [{type: long, value: 1}]}}
        writer: {plugin: stream, parameter: {print: true}}
EOT
cat > "$WORK/tasks.d/chain.yaml" <<EOT
tasks:
  - name: chain
    schedule: {cycle: minute, interval: 5}
    self_dependency: true
    retries: 0
    job:
      type: job
      version: "1.0"
      configuration:
        reader:
          plugin: stream
          parameter:
            failIfExists: "$WORK/fail-\${bdp.system.cyctime}"
            column: [{type: string, value: "\${bdp.system.cyctime}"}]
        writer: {plugin: stream, parameter: {print: true}}
EOT
touch "$WORK/fail-20181016001500"

check "otsyncd -t accepts the test catalogue" "$OTSYNCD" -t -c "$WORK/otsyncd.yaml"

"$OTSYNCD" -c "$WORK/otsyncd.yaml" --foreground --clock 2018-10-16T00:00:00,x120 \
    2> "$WORK/daemon.log" &
DPID=$!
PIDS="$DPID"
# 01:00 simulated is 30 s of real time; the instance of 01:00 must have finished
wait_for 60 grep -q 'instance window@20181016010000: success' "$WORK/daemon.log" \
    || not_ok "window@20181016010000 finished within 60 s"
sleep 1
kill -TERM "$DPID"
wait "$DPID"; rc=$?
PIDS=""
check_eq "otsyncd exits 0 on SIGTERM" 0 "$rc"

L="$WORK/state/logs"
# --- the 5-minute window task: 12 instances from 00:05 to 01:00, each with its window
n=$(grep -c 'instance window@2018101[67][0-9]*: success' "$WORK/daemon.log")
check_eq "window: 12 successful instances in the simulated hour" 12 "$n"
expected=""
base=$(TZ=Asia/Shanghai date -d "2018-10-16 00:00:00" +%s)
fmt() { TZ=Asia/Shanghai date -d "@$1" +%Y%m%d%H%M%S; }
for m in 5 10 15 20 25 30 35 40 45 50 55 60; do
    cyc=$(fmt $((base + m * 60)))
    expected="$expected window@$cyc"
    s=$(fmt $((base + (m - 10) * 60)))
    e=$(fmt $((base + (m - 5) * 60)))
    line=$(grep -m1 '^stdout: window ' "$L/window/$cyc.log" 2>/dev/null)
    check_eq "window@$cyc rendered its window" "window $s $e 20181015" "${line#stdout: }"
done
started=$(grep -o 'instance window@[0-9]*: attempt 1 started' "$WORK/daemon.log" \
    | sed 's/instance \(window@[0-9]*\).*/\1/' | tr '\n' ' ')
check_eq "window: instances started in scheduled order" "$(echo $expected)" "$(echo $started)"

# --- the flaky task: attempt 1 at 00:10, each retry retry_interval (60 s) after the failure
# it follows. The daemon stamps each line with the simulated time it acted on; at x120 one
# simulated second is 8 ms of real time, so a loaded machine starts a timer a few simulated
# seconds late: starts are checked to within 15 simulated seconds of when they were due.
secs() { TZ=Asia/Shanghai date -d "$(echo "$1" | tr T ' ')" +%s; }
starts=$(grep 'instance flaky@20181016001000: attempt [0-9] started' "$WORK/daemon.log" \
    | sed 's/.*\[clock \([0-9T:-]*\)\].*/\1/')
fails=$(grep 'instance flaky@20181016001000: attempt [0-9] failed' "$WORK/daemon.log" \
    | sed 's/.*\[clock \([0-9T:-]*\)\].*/\1/')
set -- $starts
check_eq "flaky: three attempts" 3 "$#"
s1=$(secs "$1"); s2=$(secs "$2"); s3=$(secs "$3")
set -- $fails
f1=$(secs "$1"); f2=$(secs "$2")
t0=$(secs 2018-10-16T00:10:00)
check "flaky: attempt 1 at 00:10 (+$((s1 - t0)) s)" test $((s1 - t0)) -ge 0 -a $((s1 - t0)) -le 15
check "flaky: attempt 2 60 s after failure 1 (+$((s2 - f1)) s)" test $((s2 - f1)) -ge 60 -a $((s2 - f1)) -le 75
check "flaky: attempt 3 60 s after failure 2 (+$((s3 - f2)) s)" test $((s3 - f2)) -ge 60 -a $((s3 - f2)) -le 75
check "flaky: success after exactly 2 retries" \
    grep -q 'instance flaky@20181016001000: success after 3 attempts' "$WORK/daemon.log"
n=$(grep -c 'instance flaky@20181016001000: attempt [0-9] failed' "$WORK/daemon.log")
check_eq "flaky: two failed attempts" 2 "$n"

# --- the self-dependent chain: 00:15 fails for good, nothing after it runs
check "chain: 00:05 and 00:10 succeeded" \
    grep -q 'instance chain@20181016001000: success' "$WORK/daemon.log"
check "chain: 00:15 failed for good" \
    grep -q 'instance chain@20181016001500: failed for good after 1 attempt' "$WORK/daemon.log"
check "chain: 00:20 waits for 00:15" grep -q \
    'instance chain@20181016002000: waiting for the previous cycle chain@20181016001500' \
    "$WORK/daemon.log"
n=$(grep -c 'instance chain@2018101600[2-5][0-9]00: attempt 1 started\|instance chain@20181016010000: attempt 1 started' "$WORK/daemon.log")
check_eq "chain: no successor of the failed instance ran" 0 "$n"
check "chain: no log file for blocked instances" test ! -e "$L/chain/20181016002000.log"
if [ "$T_FAIL" -ne 0 ]; then
    echo "--- the daemon's log, for the failures above:"
    grep -v ': created ' "$WORK/daemon.log" | head -n 120
fi
finish
