#!/bin/bash
# history_memory: finished instances beyond it leave memory for the archive (state_dir/history)
# when the journal is compacted, and otsyncctl still finds them there: instances --date lists
# memory and archive together, show and rerun reach an archived instance, and nothing is lost
# or doubled across restarts.
. "$(dirname "$0")/lib.sh"
CTL="$top_builddir/otsyncctl"
daemon_config "history_memory: 10"
cat > "$WORK/tasks.d/m.yaml" <<'EOT'
tasks:
  - name: m
    schedule: {cycle: minute, interval: 1}
    job:
      type: job
      version: "2.0"
      configuration:
        reader: {plugin: stream, parameter: {sliceRecordCount: 1, column: [{type: string, value: "${bdp.system.cyctime}"}]}}
        writer: {plugin: stream, parameter: {print: true}}
EOT
ctl() { "$CTL" -c "$WORK/otsyncd.yaml" "$@"; }
ids() { ctl --json instances --date 2018-10-16 | grep -o '"id": *"[^"]*"' | cut -d'"' -f4; }
run() {     # run START: otsyncd at x600 (a simulated minute every 0.1 s) for 4 s
    "$OTSYNCD" -c "$WORK/otsyncd.yaml" --foreground --clock "$1,x600" 2>> "$WORK/daemon.log" &
    DPID=$!; PIDS=$DPID
    sleep 4
}
stop() { kill -TERM "$DPID"; wait "$DPID"; PIDS=""; }

run 2018-10-16T00:00:00
stop
n1=$(ids | wc -l)
check "some 30 instances ran" test "$n1" -ge 25
run 2018-10-16T01:00:00        # start-up compaction: all but 10 go to the archive
check "the start-up compaction moved instances to the archive" \
    grep -q 'finished instances* moved to' "$WORK/daemon.log"
check "the archive file of the day exists" test -s "$WORK/state/history/20181016.jsonl"
all=$(ids)
check "instances --date lists memory and archive: none lost" test "$(echo "$all" | wc -l)" -ge "$n1"
check_eq "no instance listed twice" "" "$(echo "$all" | sort | uniq -d)"
first=$(echo "$all" | head -n 1)
out=$(ctl show "$first")
check "show finds an archived instance" grep -q "^state  *success" <<< "$out"
check "rerun of an archived instance is accepted" ctl rerun "$first"
sleep 1
check "the archived instance ran again" grep -q "instance $first: success after 2 attempts" "$WORK/daemon.log"
stop
all2=$(ctl --json instances --date 2018-10-16 | grep -o '"id": *"[^"]*"' | cut -d'"' -f4)
check_eq "with the daemon down: no instance listed twice" "" "$(echo "$all2" | sort | uniq -d)"
check "with the daemon down: none lost" test "$(echo "$all2" | wc -l)" -ge "$(echo "$all" | wc -l)"
out=$(ctl --json show "$first")
check "with the daemon down: show of the rerun instance says 2 attempts" grep -q '"attempts": 2' <<< "$out"
finish
