#!/bin/bash
# The five channels through otsyncd, on a simulated clock (x120: an hour in 30 s) shared with
# otsync-emu, with the catalogue of etc/channels/tasks.d/channels.yaml as shipped and the jobs
# of etc/jobs/channel1..5 with only the tables and columns made to fit the fixtures (and
# channel 3's table cut in slices of 20 KB, so that both its channels write an object):
# - channels 1 (Table Store changes -> MaxCompute, a partition per window) and 4 (-> OSS, an
#   object set per window) over a simulated hour while the official tablestore SDK changes the
#   source table (tests/conformance/stream-fixture.js): every instance of the hour succeeds;
#   each partition holds exactly the changes of its instance's window [t-10 min, t-5 min);
#   the union of the partitions equals the change log the SDK wrote, and the union of the
#   objects (read with the official OSS SDK, ali-oss) its puts and updates;
# - channels 2 (full export -> MaxCompute), 3 (full export -> OSS) and 5 (restore OSS ->
#   Table Store), daily tasks kept paused, run with otsyncctl backfill: the partition, the
#   objects (read with ali-oss) and the restored table (read with the tablestore SDK) equal the
#   source table exactly;
# - channel 3 backfilled for 20 more dates, its otsync-run child killed with SIGKILL at a
#   random moment of each export (the emulator stalls some requests so an export lasts about
#   a second): the daemon's automatic rerun (retries 3, retry_interval 2m) succeeds at the
#   next attempt and the objects equal the source table exactly, every time.
# Instance states come from otsyncctl --json. MaxCompute has no SDK here: its rows are read
# back with the emulator's dump. No sanitizer report in the daemon's or the instances' logs.
# KILLS (20) may be lowered for a quick look.
. "$(dirname "$0")/lib.sh"
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
CONF="$top_srcdir/tests/conformance"
[ -d "$CONF/node_modules/tablestore" ] || (cd "$CONF" && npm ci --no-audit --no-fund) || exit 1
CTL="$top_builddir/otsyncctl"
KILLS=${KILLS:-20}
SPEED=120
ROWS=3000
export TZ=Asia/Shanghai
T_BEGIN=$(date +%s)

now_ms() { date +%s%3N; }
iso() { date -d "@$1" +%Y-%m-%dT%H:%M:%S; }
cyc() { date -d "@$1" +%Y%m%d%H%M%S; }

# --- otsync-emu on a simulated clock starting 70 minutes ago (every window it will stamp lies
# in the past, as in ./run-demo); its simulated time at real time r is S_EMU + (r - R_EMU) * 120
S_EMU=$(( $(date +%s) - 70 * 60 ))
R_EMU=$(now_ms)
start_emu --clock "$(iso $S_EMU),x$SPEED" || { finish; exit 1; }
emu_sim() { echo $(( S_EMU + ($1 - R_EMU) * SPEED / 1000 )); }    # emu_sim REAL_MS
ADMIN=${EMU_ODPS%/api}/_emu
export OTSYNC_EMU_OTS=$EMU_OTS OTSYNC_EMU_OSS=$EMU_OSS OTSYNC_EMU_INSTANCE=inst
curl -s -X POST "$EMU_OTS/_emu/ots/instances?name=inst" > /dev/null
curl -s -X POST "$EMU_OSS/_emu/oss/buckets?name=exports" > /dev/null
curl -s -X POST "$ADMIN/odps/tables" -d '{"project": "wh", "table": "gps_data_full",
  "columns": [{"name": "k1", "type": "bigint"}, {"name": "k2", "type": "string"},
  {"name": "k3", "type": "binary"}, {"name": "s", "type": "string"},
  {"name": "i", "type": "bigint"}, {"name": "d", "type": "double"},
  {"name": "b", "type": "boolean"}, {"name": "bin", "type": "binary"}],
  "partition_columns": [{"name": "pt", "type": "string"}]}' > /dev/null
curl -s -X POST "$ADMIN/odps/tables" -d '{"project": "wh", "table": "gps_data_changes",
  "columns": [{"name": "k1", "type": "string"}, {"name": "k2", "type": "bigint"},
  {"name": "colname", "type": "string"}, {"name": "version", "type": "bigint"},
  {"name": "colvalue", "type": "string"}, {"name": "optype", "type": "string"},
  {"name": "sequenceinfo", "type": "string"}],
  "partition_columns": [{"name": "pt", "type": "string"}, {"name": "hm", "type": "string"}]}' \
  > /dev/null
ots_fixture() { (cd "$CONF" && node ots-fixture.js "$@"); }
oss_fixture() { (cd "$CONF" && node oss-fixture.js "$@"); }
# the full-export source (the columns of etc/jobs/channel3 and 5) and the restore's target
ots_fixture create gps_data $ROWS || { not_ok "the fixture table gps_data"; finish; exit 1; }
ots_fixture empty gps_data_restored || not_ok "the fixture table gps_data_restored"
ots_fixture dump gps_data | LC_ALL=C sort > "$WORK/source.txt"
# the changing table, a stream on
(cd "$CONF" && node stream-fixture.js create gps_changes) || not_ok "the stream fixture table"

# --- the configuration: etc/channels as shipped but for where state lives and this build's
# otsync-run; etc/jobs with the fixtures' tables and columns
mkdir -p "$WORK/channels/tasks.d" "$WORK/jobs"
sed -e 's|^state_dir:.*|state_dir: state|' -e 's|^socket:.*|socket: state/otsyncd.sock|' \
    "$top_srcdir/etc/channels/otsyncd.yaml" > "$WORK/channels/otsyncd.yaml"
echo "runner: $OTSYNC_RUN" >> "$WORK/channels/otsyncd.yaml"
cp "$top_srcdir/etc/channels/tasks.d/channels.yaml" "$WORK/channels/tasks.d/"
printf 'otsync-emu-secret\n' > "$WORK/secret"
KEY="access_key_id: otsync-emu-id, access_key_secret_file: $WORK/secret"
cat > "$WORK/datasources.yaml" <<EOT
datasources:
  ots_source: {type: ots, endpoint: "$EMU_OTS", instance: inst, $KEY}
  oss_exports: {type: oss, endpoint: "$EMU_OSS", bucket: exports, $KEY}
  mc_warehouse: {type: odps, endpoint: "$EMU_ODPS", project: wh, $KEY}
EOT
chmod 600 "$WORK/secret" "$WORK/datasources.yaml"
J=$top_srcdir/etc/jobs
FULL='["k1", "k2", "k3", "s", "i", "d", "b", "bin"]'
SINGLE='["k1", "k2", "s", "i", "d", "b", "bin"]'
CHANGES='["k1", "k2", "colname", "version", "colvalue", "optype", "sequenceinfo"]'
jq --argjson c "$CHANGES" '.steps[0].parameter.dataTable = "gps_changes"
    | .steps[1].parameter.column = $c' \
    "$J/channel1-otsstream-to-odps.json" > "$WORK/jobs/channel1-otsstream-to-odps.json"
jq --argjson c "$FULL" '.steps[0].parameter.column = [$c[] | {name: .}]
    | .steps[1].parameter.column = $c' \
    "$J/channel2-ots-to-odps.json" > "$WORK/jobs/channel2-ots-to-odps.json"
jq '.configuration.reader.parameter.splitSizeInMB = 0.02' "$J/channel3-ots-to-oss.json" \
    > "$WORK/jobs/channel3-ots-to-oss.json"
jq --argjson c "$SINGLE" '.steps[0].parameter.dataTable = "gps_changes"
    | .steps[0].parameter.column = [$c[] | {name: .}] | .steps[1].parameter.header = $c' \
    "$J/channel4-otsstream-to-oss.json" > "$WORK/jobs/channel4-otsstream-to-oss.json"
# the restore reads the backup that channel 3 makes for 2018-10-16 (bizdate 20181015)
cp "$J/channel5-oss-to-ots.json" "$WORK/jobs/"
CFG=$WORK/channels/otsyncd.yaml
ctl() { "$CTL" -c "$CFG" "$@"; }
check "otsyncd -t accepts the channels' catalogue with these jobs" "$OTSYNCD" -t -c "$CFG"

# field ID NAME: a field of the instance's otsyncctl --json show
field() { ctl --json show "$1" 2>/dev/null | jq -r ".$2 // empty"; }
finished() { case $(field "$1" state) in success|failed|killed) return 0 ;; esac; return 1; }
# attempt_over ID N: attempt N of ID has ended (the instance is no longer running it)
attempt_over() {
    [ "$(ctl --json show "$1" | jq -r '"\(.state) \(.attempts)"')" != "running $2" ]
}

# --- otsyncd on the emulator's clock
R_D=$(now_ms)
S_D=$(emu_sim "$R_D")
"$OTSYNCD" -f -c "$CFG" --clock "$(iso "$S_D"),x$SPEED" 2> "$WORK/daemon.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 10 test -S "$WORK/channels/state/otsyncd.sock" || not_ok "the daemon's socket appears"
# the first cycle after the present; twelve of them make the hour
C0=$(( (S_D / 300 + 1) * 300 ))
LAST=$((C0 + 55 * 60))
echo "# simulated clock from $(iso "$S_D"); the hour's cycles $(iso $C0) to $(iso $LAST)"

# --- the SDK changes gps_changes until the emulator's clock reaches C0 + 44 min, well inside
# the windows of the hour: [C0 - 10 min, C0 + 50 min)
UNTIL=$(( R_EMU + (C0 + 44 * 60 - S_EMU) * 1000 / SPEED ))
(cd "$CONF" && node stream-fixture.js write gps_changes "$(now_ms)" "$UNTIL" "$WORK" 9) \
    > "$WORK/writer.out" 2>&1 &
WRITER=$!
PIDS="$PIDS $WRITER"

# --- meanwhile the one-off channels, each backfilled for 2018-10-16
BF_DAY=2018-10-16
backfill() {    # backfill TASK HH [DAY]: the task's instance of DAY ($BF_DAY) at HH:00
    local at=${3:-$BF_DAY}T$2:00:00
    ctl backfill "$1" --from "$at" --to "$at" > "$WORK/bf.out" 2>&1
}
backfill full_export_to_odps 02
check_eq "backfill channel 2 exits 0" 0 "$?"
backfill full_export_to_oss 03
check_eq "backfill channel 3 exits 0" 0 "$?"
wait_for 60 finished full_export_to_oss@20181016030000
check_eq "channel 3 (full_export_to_oss@20181016030000) succeeded" success \
    "$(field full_export_to_oss@20181016030000 state)"
backfill restore_from_oss 04
check_eq "backfill channel 5 exits 0" 0 "$?"
wait_for 60 finished restore_from_oss@20181016040000
check_eq "channel 5 (restore_from_oss@20181016040000) succeeded" success \
    "$(field restore_from_oss@20181016040000 state)"
wait_for 60 finished full_export_to_odps@20181016020000
check_eq "channel 2 (full_export_to_odps@20181016020000) succeeded" success \
    "$(field full_export_to_odps@20181016020000 state)"

oss_fixture rows exports backup/ots/20181015/ '\N' 2,7 | LC_ALL=C sort > "$WORK/ch3.txt"
n=$(wc -l < "$WORK/ch3.txt")
check "channel 3: the objects (read with ali-oss) hold the source table exactly ($n rows)" \
    cmp -s "$WORK/source.txt" "$WORK/ch3.txt"
ots_fixture dump gps_data_restored | LC_ALL=C sort > "$WORK/ch5.txt"
n=$(wc -l < "$WORK/ch5.txt")
check "channel 5: the restored table (read with the tablestore SDK) is the source ($n rows)" \
    cmp -s "$WORK/source.txt" "$WORK/ch5.txt"
curl -s "$ADMIN/odps/dump?project=wh&table=gps_data_full&partition=pt%3D20181015" \
    | jq -r 'def b64: if . == null then null else @base64d end;
             .rows[] | [.[0], .[1], (.[2] | b64), .[3], .[4], .[5], .[6], (.[7] | b64)]
             | map(if . == null then "null" else tostring end) | join("\t")' \
    | LC_ALL=C sort > "$WORK/ch2.txt"
n=$(wc -l < "$WORK/ch2.txt")
check "channel 2: the partition pt=20181015 holds the source table exactly ($n rows)" \
    cmp -s "$WORK/source.txt" "$WORK/ch2.txt"

# --- the hour of channels 1 and 4
for task in changes_to_odps changes_to_oss; do
    wait_for 90 finished "$task@$(cyc $LAST)" || not_ok "$task@$(cyc $LAST) finished in time"
done
wait "$WRITER"
check "the tablestore SDK changed the table ($(cat "$WORK/writer.out"))" \
    grep -q "cell changes" "$WORK/writer.out"
ctl pause changes_to_odps > /dev/null
ctl pause changes_to_oss > /dev/null
hour() {    # hour TASK: "id state attempts" of the task's instances of the hour
    ctl --json instances --task "$1" | jq -r --arg a "$1@$(cyc $C0)" --arg b "$1@$(cyc $LAST)" \
        '.[] | select(.id >= $a and .id <= $b) | "\(.id) \(.state) \(.attempts)"'
}
for task in changes_to_odps changes_to_oss; do
    hour $task > "$WORK/$task.hour"
    check_eq "$task: 12 instances in the hour" 12 "$(wc -l < "$WORK/$task.hour")"
    check_eq "$task: every one succeeded" 0 "$(grep -vc ' success ' "$WORK/$task.hour")"
done

# channel 1: each instance's partition pt=bizdate,hm=(t - 5 min) holds the changes whose
# sequence time lies in its window; together, the change log exactly
LC_ALL=C sort "$WORK/changes.txt" > "$WORK/changes.sorted"
LC_ALL=C sort "$WORK/single.txt" > "$WORK/single.sorted"
outside=0
: > "$WORK/ch1.txt"
for ((t = C0; t <= LAST; t += 300)); do
    spec="pt=$(date -d "@$((t - 86400))" +%Y%m%d),hm=$(date -d "@$((t - 300))" +%H%M)"
    q="project=wh&table=gps_data_changes&partition=$(sed 's/=/%3D/g; s/,/%2C/g' <<<"$spec")"
    curl -s "$ADMIN/odps/dump?$q" \
        | jq -r '(.rows // [])[] | map(if . == null then "null" else tostring end) | join("\t")' \
        > "$WORK/part.txt"
    n=$(awk -F'\t' -v s=$(((t - 600) * 1000)) -v e=$(((t - 300) * 1000)) '
        { split($7, q, ":"); ms = int(q[2] / 1000); if (ms < s || ms >= e) n++ }
        END { print n + 0 }' "$WORK/part.txt")
    outside=$((outside + n))
    cut -f1-6 "$WORK/part.txt" >> "$WORK/ch1.txt"
done
LC_ALL=C sort -o "$WORK/ch1.txt" "$WORK/ch1.txt"
check_eq "channel 1: every row's sequence time lies in its partition's window" 0 "$outside"
n=$(wc -l < "$WORK/changes.sorted")
check "channel 1: the hour's partitions hold the SDK's change log exactly ($n changes)" \
    cmp -s "$WORK/changes.sorted" "$WORK/ch1.txt"
# channel 4: gps/bizdate/startTime per instance; together, the puts and updates
oss_fixture rows exports gps/ null 6 | LC_ALL=C sort > "$WORK/ch4.txt"
n=$(wc -l < "$WORK/single.sorted")
check "channel 4: the hour's objects (read with ali-oss) hold its $n puts and updates exactly" \
    cmp -s "$WORK/single.sorted" "$WORK/ch4.txt"
nobj=$(oss_fixture keys exports gps/ | wc -l)
nparts=$(curl -s "$ADMIN/odps/partitions?project=wh&table=gps_data_changes" \
    | jq '.partitions | length')
echo "# channel 4: $nobj objects; channel 1: $nparts partitions"

echo "# $(( $(date +%s) - T_BEGIN )) s so far"

# --- channel 3 for KILLS more dates, each time the otsync-run child killed with SIGKILL at a
# random moment. The emulator stalls every GetRange by 150 ms and half the PutObjects by 300
# ms, so an export lasts about a second: 9 slices read on 2 channels, then the two objects go
# up together or 300 ms apart. The kill falls uniformly in the first DELAY_MS (1100) from when
# the instance shows its pid: while the job starts, deletes the objects there (truncate),
# reads, or between the two objects. A kill that comes after the export ended finds no
# process; the instance is then rerun (otsyncctl rerun) and killed again.
curl -s -X POST "$EMU_OTS/_emu/faults" -d '{"service": "ots", "op": "GetRange",
    "kind": "stall", "share": 1, "stall_ms": 150}' > /dev/null
curl -s -X POST "$EMU_OTS/_emu/faults" -d '{"service": "oss", "op": "PutObject",
    "kind": "stall", "share": 0.5, "stall_ms": 300}' > /dev/null
DELAY_MS=${DELAY_MS:-1100}
same=0 killed=0 retried=0 missed=0
: > "$WORK/kills"
for i in $(seq 1 "$KILLS"); do
    day=$(date -d "$BF_DAY $i day" +%Y-%m-%d)
    id=full_export_to_oss@$(date -d "$day" +%Y%m%d)030000
    biz=$(date -d "$day -1 day" +%Y%m%d)
    objs=- ms=- attempt=0
    if ! backfill full_export_to_oss 03 "$day"; then
        not_ok "backfill $id: $(cat "$WORK/bf.out")"
        continue
    fi
    for try in 1 2 3 4 5; do
        run=""
        for _ in $(seq 1 500); do
            run=$(ctl --json show "$id" 2>/dev/null \
                | jq -r 'select(.state == "running" and .pid != null) | "\(.pid) \(.attempts)"')
            [ -n "$run" ] && break
            sleep 0.02
        done
        set -- $run
        pid=${1:-} attempt=${2:-0}
        ms=$((RANDOM % DELAY_MS))
        sleep "$(awk -v m=$ms 'BEGIN { print m / 1000 }')"
        if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
            objs=$(curl -s "$EMU_OSS/_emu/oss/objects?bucket=exports" \
                | jq --arg p "backup/ots/$biz/" '[.[] | select(.key | startswith($p))] | length')
            # kill(2) also "succeeds" on a child that has just exited and is not reaped yet:
            # the daemon's verdict on the attempt tells whether the signal ended it
            wait_for 60 attempt_over "$id" "$attempt"
            if wait_for 3 grep -q "$id: attempt $attempt failed: otsync-run killed by signal 9" \
                    "$WORK/daemon.log"; then
                killed=$((killed + 1))
                break
            fi
        fi
        missed=$((missed + 1))
        wait_for 60 finished "$id"
        ctl rerun "$id" > /dev/null
    done
    wait_for 60 finished "$id"
    show=$(ctl --json show "$id")
    after=$(jq -r '"\(.state) at attempt \(.attempts)"' <<<"$show")
    echo "$id attempt $attempt killed after $ms ms, $objs of its objects there then; $after" \
        >> "$WORK/kills"
    [ "$(jq -r '"\(.state) \(.attempts)"' <<<"$show")" = "success $((attempt + 1))" ] \
        && retried=$((retried + 1))
    oss_fixture rows exports "backup/ots/$biz/" '\N' 2,7 | LC_ALL=C sort > "$WORK/kill.txt"
    if cmp -s "$WORK/source.txt" "$WORK/kill.txt"; then
        same=$((same + 1))
    else
        echo "# $id: the objects differ from the source in" \
            "$(diff "$WORK/source.txt" "$WORK/kill.txt" | grep -c '^[<>]') lines"
    fi
done
sed 's/^/# /' "$WORK/kills"
echo "# kills that came after the export had ended (the instance was rerun): $missed"
check_eq "channel 3: an otsync-run child was killed with SIGKILL $KILLS times" "$KILLS" "$killed"
check_eq "channel 3: each time the daemon's automatic rerun succeeded at the next attempt" \
    "$KILLS" "$retried"
check_eq "channel 3: after each rerun the objects (read with ali-oss) hold the source exactly" \
    "$KILLS" "$same"
n=$(grep -c "full_export_to_oss@.*: attempt [0-9]* failed: otsync-run killed by signal 9; retry" \
    "$WORK/daemon.log")
check_eq "the daemon logged each killed attempt as killed by signal 9, to be retried" "$KILLS" "$n"
check_eq "every instance of the test succeeded (otsyncctl --json instances)" "" \
    "$(ctl --json instances \
        | jq -r '.[] | select(.state != "success" and .state != "skipped") | "\(.id) \(.state)"')"

kill -TERM "$DPID"
wait "$DPID"
check_eq "otsyncd exits 0 on SIGTERM" 0 "$?"
PIDS="${PIDS/ $DPID/}"
check_eq "no sanitizer report in the daemon's or the instances' logs" "" \
    "$(grep -l 'ERROR: [A-Za-z]*Sanitizer\|runtime error:' "$WORK/daemon.log" \
        "$WORK"/channels/state/logs/*/*.log)"
if [ "$T_FAIL" -ne 0 ]; then
    echo "--- the daemon's log, for the failures above:"
    grep -v ': created \|waiting for' "$WORK/daemon.log" | tail -n 60
fi
echo "# $(( $(date +%s) - T_BEGIN )) s in all"
finish
