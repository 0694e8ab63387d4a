#!/bin/bash
# otsyncctl against a live otsyncd on a simulated clock (x60: a simulated minute a second):
# every subcommand in its human and --json forms and with a bad argument; reload (a valid
# change applies, an invalid one keeps the old catalogue and shows in status); the journal
# read when the daemon is down; a restart keeps every instance.
. "$(dirname "$0")/lib.sh"
CTL="$top_builddir/otsyncctl"

daemon_config "max_running: 4" "shutdown_grace: 5s"
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
    echo "  - name: ok5"
    echo "    schedule: {cycle: minute, interval: 5}"
    echo "    params: {startTime: \"\$[yyyymmddhh24miss-10/24/60]\", secretToken: s3cr3t-value}"
    job "sliceRecordCount: 1"
    echo "  - name: chain"
    echo "    schedule: {cycle: minute, interval: 5}"
    echo "    self_dependency: true"
    echo "    retries: 0"
    job "failIfExists: \"$WORK/fail-\${bdp.system.cyctime}\""
    echo "  - name: bad"
    echo "    schedule: {cycle: day, start: \"00:02\"}"
    echo "    retries: 0"
    job "fail: true"
    echo "  - name: slow"
    echo "    schedule: {cycle: day, start: \"00:01\"}"
    job "delayMs: 120000"
} > "$WORK/tasks.d/main.yaml"
touch "$WORK/fail-20181016001000"
ctl() { "$CTL" -c "$WORK/otsyncd.yaml" "$@"; }
# out WORDS...: runs otsyncctl, keeping stdout in $OUT, stderr in $ERR, status in $RC
out() { ctl "$@" > "$WORK/out" 2> "$WORK/err"; RC=$?; OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err"); }
has() { grep -q -- "$1" <<< "$2"; }
count() { grep -o -- "$1" "$2" | wc -l; }   # occurrences, also within one line
state_of() { ctl --json show "$1" 2>/dev/null | grep -o '"state": "[a-z_]*"' | head -n 1 | cut -d'"' -f4; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
start_daemon() {
    "$OTSYNCD" -c "$WORK/otsyncd.yaml" --foreground --clock "$1,x60" 2>> "$WORK/daemon.log" &
    DPID=$!
    PIDS="$DPID"
    wait_for 10 test -S "$WORK/state/otsyncd.sock" || not_ok "the socket appears"
}
stop_daemon() {
    kill -TERM "$DPID"; wait "$DPID"; PIDS=""
}

start_daemon 2018-10-16T00:00:00
# 00:10 simulated is 10 s real
wait_for 40 is_state chain@20181016001000 failed || not_ok "chain@00:10 failed"
wait_for 20 is_state slow@20181016000100 running || not_ok "slow@00:01 runs"
# chain@00:15 exists from 00:14:58 and waits for the failed 00:10
wait_for 20 is_state chain@20181016001500 waiting || not_ok "chain@00:15 waits"

# --- status
out status
check_eq "status exits 0" 0 "$RC"
check "status names the daemon and its clock" has "simulated clock" "$OUT"
out status --json
check "status --json has running and the journal" has '"journal"' "$OUT"
check "status --json says ok" has '"ok": true' "$OUT"
out status extra
check_eq "status with an extra argument is a usage error" 2 "$RC"

# --- tasks
out tasks
check "tasks lists chain as self-dependent" grep -q '^chain  *minute  *yes' "$WORK/out"
out tasks --json
check_eq "tasks --json lists 4 tasks" 4 "$(grep -c '"name":' "$WORK/out")"
out tasks --bogus
check_eq "tasks --bogus is a usage error" 2 "$RC"

# --- instances
out instances --task chain
check "instances: chain@00:10 failed in the table" grep -q '^chain@20181016001000  *failed' "$WORK/out"
check "instances: chain@00:15 says what it waits for" \
    grep -q '^chain@20181016001500  *waiting .*waiting for previous cycle chain@20181016001000' "$WORK/out"
out instances --json --task ok5 --date 2018-10-16
for f in id task cyctime state attempts params; do
    check "instances --json objects have '$f'" has "\"$f\":" "$OUT"
done
check "instances --json is one JSON array" grep -q '^\[{.*}\]$' "$WORK/out"
check "instances --json renders params" has '"startTime": *"20181015235500"' "$OUT"
check "instances --json redacts a secret param" has '"secretToken": *"<redacted>"' "$OUT"
check "no secret in instances output" test "$(grep -c s3cr3t-value "$WORK/out")" -eq 0
out instances --state failed --json
check "instances --state failed lists only failed ones" \
    test "$(count '"state": *"failed"' "$WORK/out")" -ge 1 -a "$(count '"state": *"success"' "$WORK/out")" -eq 0
out instances --date 2018-13-45
check_eq "instances with a bad date is a usage error" 2 "$RC"
check "the bad date is named" has "date" "$ERR"
out instances --state nosuch
check_eq "instances with a bad state is a usage error" 2 "$RC"

# --- show
out show chain@20181016001500
check "show says what the instance waits for" has "waiting for previous cycle chain@20181016001000" "$OUT"
out show --json chain@20181016001000
check "show --json has the reason" has '"reason":' "$OUT"
check "show --json has the log path" has '"log":' "$OUT"
out show nope
check_eq "show with a malformed id is a usage error" 2 "$RC"
out show missing@20181016000000
check_eq "show of an unknown instance exits 1" 1 "$RC"
check "and says so" has "no instance" "$ERR"

# --- log
out log chain@20181016001000
check "log prints the attempt" has -- "--- attempt 1 started" "$OUT"
check "log prints the job's error" has "failIfExists" "$OUT"
out log --json chain@20181016001000
check "log --json gives the lines as an array" has '"lines": \[' "$OUT"
out log -f --json chain@20181016001000
check_eq "log -f --json is a usage error" 2 "$RC"
out log
check_eq "log without an id is a usage error" 2 "$RC"

# --- render
out render ok5 --at 20181016003000
check "render gives the job with the instance's values" has '"value": "20181016003000"' "$OUT"
out render ok5 --at 2018-10-16T00:30:00 --json
check "render --json prints the job too" has '"plugin": "stream"' "$OUT"
out render ok5 --at tomorrow
check_eq "render with a bad time is a usage error" 2 "$RC"
out render nosuch --at 20181016003000
check_eq "render of an unknown task exits 1" 1 "$RC"

# --- kill: slow@00:01 runs for 120 s real
out kill slow@20181016000100
check_eq "kill exits 0" 0 "$RC"
wait_for 10 is_state slow@20181016000100 killed || true
check_eq "the killed instance is killed" killed "$(state_of slow@20181016000100)"
out kill slow@20181016000100
check_eq "kill of a finished instance exits 1" 1 "$RC"
out kill --json
check_eq "kill without an id is a usage error" 2 "$RC"
out kill --json missing@20181016000000
check_eq "kill --json of an unknown instance exits 1" 1 "$RC"
check "kill --json gives the error as JSON" has '"ok": false' "$OUT"

# --- set-success: bad@00:02 failed for good
wait_for 10 is_state bad@20181016000200 failed || not_ok "bad@00:02 failed"
out set-success bad@20181016000200
check_eq "set-success exits 0" 0 "$RC"
check_eq "set-success made it success" success "$(state_of bad@20181016000200)"
out set-success bad@20181016000200 --json
check_eq "set-success twice exits 1" 1 "$RC"
check "set-success --json gives the error as JSON" has '"ok": false' "$OUT"

# --- rerun: chain@00:10 succeeds now, and releases 00:15
rm -f "$WORK/fail-20181016001000"
out rerun chain@20181016001000
check_eq "rerun exits 0" 0 "$RC"
wait_for 10 is_state chain@20181016001500 success || true
check_eq "rerun: chain@00:10 succeeded" success "$(state_of chain@20181016001000)"
check_eq "rerun released chain@00:15" success "$(state_of chain@20181016001500)"
out rerun chain@20181016001500 extra
check_eq "rerun with an extra argument is a usage error" 2 "$RC"
out rerun --json chain@20181016001500
check_eq "rerun --json exits 0" 0 "$RC"
check "rerun --json says ok" has '"ok": true' "$OUT"

# --- pause / resume
out pause ok5
check_eq "pause exits 0" 0 "$RC"
out status
check "status lists the paused task" grep -q '^paused  *ok5' "$WORK/out"
now_min() { ctl --json status | grep -o '"now": [0-9]*' | grep -o '[0-9]*$'; }
t=$(now_min)
sleep 6     # 6 simulated minutes: at least one cycle of ok5
out instances --task ok5 --state skipped
check "a paused task's instances are skipped" grep -q '^ok5@.* skipped' "$WORK/out"
out resume ok5 --json
check "resume --json says ok" has '"ok": true' "$OUT"
out pause no-such-task
check_eq "pause of an unknown task exits 1" 1 "$RC"
out pause 'bad name!'
check_eq "pause of a malformed name is a usage error" 2 "$RC"

# --- backfill the previous evening's 23:00-23:20 of chain: 5 instances, in order
out backfill chain --from 2018-10-15T23:00:00 --to 20181015232000
check_eq "backfill exits 0" 0 "$RC"
check "backfill says how many it created" has "5 instance(s) created" "$OUT"
wait_for 15 is_state chain@20181015232000 success || true
out instances --task chain --date 2018-10-15 --json
check_eq "backfilled instances all succeeded" 5 "$(count '"state": *"success"' "$WORK/out")"
out backfill chain --from 2018-10-15T23:00:00
check_eq "backfill without --to is a usage error" 2 "$RC"
out backfill --json chain --from 2018-10-15T23:00:00 --to 20181015230500
check "backfill --json says how many it created" has '"created": 2' "$OUT"
out backfill chain --from 2030-01-01T00:00:00 --to 2030-01-02T00:00:00
check_eq "backfill into the future exits 1" 1 "$RC"

# --- reload: a valid change applies; an invalid one keeps the old catalogue
cat > "$WORK/tasks.d/extra.yaml" <<EOT
tasks:
  - name: extra
    schedule: {cycle: day}
$(job "sliceRecordCount: 1")
EOT
out reload
check_eq "reload of a valid change exits 0" 0 "$RC"
check "reload reports the new task count" has "5 task" "$OUT"
echo "  - name: [broken" >> "$WORK/tasks.d/extra.yaml"
out reload --json
check_eq "reload of a broken catalogue exits 1" 1 "$RC"
check "reload --json lists the errors" has '"errors": \[' "$OUT"
out reload
check "reload prints the error with file:line:col" grep -q 'extra.yaml:[0-9]*:[0-9]*' "$WORK/err"
out status
check "status shows the failed reload" has "FAILED" "$OUT"
out tasks --json
check_eq "the old catalogue (5 tasks) stays" 5 "$(grep -c '"name":' "$WORK/out")"
rm "$WORK/tasks.d/extra.yaml"
kill -HUP "$DPID"
wait_for 5 sh -c "'$CTL' -c '$WORK/otsyncd.yaml' status | grep -q 'last reload  *ok'" \
    || not_ok "SIGHUP reloads"
check "SIGHUP reload shows ok in status" true

# --- SIGTERM with an instance running: after the grace period it is stopped and recorded as
# interrupted, and the next start runs it again
out rerun slow@20181016000100
wait_for 10 is_state slow@20181016000100 running || not_ok "slow@00:01 runs again"

# --- the daemon down: read-only commands read the journal
out instances --json
before=$(count '"id":' "$WORK/out")
stop_daemon
out status
check_eq "status with the daemon down exits 0" 0 "$RC"
check "status says the daemon is not running" has "not running" "$OUT"
out instances --json
check_eq "instances with the daemon down lists the same instances" "$before" "$(count '"id":' "$WORK/out")"
out show chain@20181016001000
check "show with the daemon down works" has "success" "$OUT"
out show --json slow@20181016000100
check "an instance running at SIGTERM is recorded as interrupted" has '"reason": "interrupted' "$OUT"
check_eq "and waits to run again" waiting "$(state_of slow@20181016000100)"
out rerun chain@20181016001000
check_eq "rerun with the daemon down exits 3" 3 "$RC"
check "and says it cannot reach the daemon" has "cannot reach" "$ERR"
check "no secret reached the journal" test "$(cat "$WORK"/state/journal/* | grep -c s3cr3t-value)" -eq 0
check "no secret reached the daemon log" test "$(grep -c s3cr3t-value "$WORK/daemon.log")" -eq 0

# --- restart: every instance is still known, none twice
start_daemon 2018-10-16T01:00:00
wait_for 10 is_state slow@20181016000100 running || not_ok "the interrupted instance runs again after a restart"
out instances --json
check "after a restart no instance is lost" test "$(count '"id":' "$WORK/out")" -ge "$before"
check_eq "after a restart no id appears twice" "" "$(grep -o '"id": *"[^"]*"' "$WORK/out" | sort | uniq -d)"
stop_daemon
check "the daemon replayed its journal" grep -q 'journal .* replayed' "$WORK/daemon.log"
finish
