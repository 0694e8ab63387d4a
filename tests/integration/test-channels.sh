#!/bin/bash
# Reliability of the full-export channels against otsync-emu:
# - channels 3 (Table Store -> OSS), 5 (OSS -> Table Store) and 2 (Table Store -> MaxCompute)
#   with the emulator failing about 10 % of requests (503 busy, 500, connection resets and
#   2 s stalls, across every service): each completes, and its output is identical to a run
#   without faults;
# - channel 3 killed with SIGKILL at a random moment 20 times, each time run again as the
#   daemon's rerun does (the same job): the objects equal a clean export every time.
# - channels 4 (Table Store changes -> OSS) and 1 (-> MaxCompute, a partition per window):
#   windows of a changing table read with and without those faults give the same rows.
# The source tables are made and read back with the official tablestore SDK.
. "$(dirname "$0")/lib.sh"
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
CONF="$top_srcdir/tests/conformance"
[ -d "$CONF/node_modules/tablestore" ] || (cd "$CONF" && npm ci --no-audit --no-fund) || exit 1
start_emu --seed 7 || exit 1
export OTSYNC_EMU_OTS=$EMU_OTS OTSYNC_EMU_INSTANCE=inst
curl -s -X POST "$EMU_OTS/_emu/ots/instances?name=inst" > /dev/null
curl -s -X POST "$EMU_OSS/_emu/oss/buckets?name=exports" > /dev/null
curl -s -X POST "$EMU_ODPS/../_emu/odps/tables" -d '{"project": "wh", "table": "copy",
  "columns": [{"name": "k1", "type": "bigint"}, {"name": "k2", "type": "string"},
  {"name": "k3", "type": "binary"}, {"name": "s", "type": "string"}, {"name": "i", "type": "bigint"},
  {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"}, {"name": "bin", "type": "binary"}]}' \
  > /dev/null
fixture() { (cd "$CONF" && node ots-fixture.js "$@"); }
fixture create src 4000 || { not_ok "the fixture table"; finish; exit 1; }
fixture dump src | LC_ALL=C sort > "$WORK/src.txt"

cat > "$WORK/ds.yaml" <<EOT
datasources:
  ots: {type: ots, endpoint: "$EMU_OTS", instance: inst, access_key_id: otsync-emu-id, access_key_secret: otsync-emu-secret}
  oss: {type: oss, endpoint: "$EMU_OSS", bucket: exports, access_key_id: otsync-emu-id, access_key_secret: otsync-emu-secret}
  mc: {type: odps, endpoint: "$EMU_ODPS", project: wh, access_key_id: otsync-emu-id, access_key_secret: otsync-emu-secret}
EOT
chmod 600 "$WORK/ds.yaml"
COLS='[{"name": "k1"}, {"name": "k2"}, {"name": "k3"}, {"name": "s"}, {"name": "i"}, {"name": "d"}, {"name": "b"}, {"name": "bin"}]'
# job NAME READER WRITER: a job file with 4 channels
job() {
    printf '{"type": "job", "version": "1.0", "configuration": {"setting": {"speed": {"concurrent": 4}},\n "reader": %s,\n "writer": %s}}\n' "$2" "$3" > "$WORK/$1.json"
}
job export '{"plugin": "ots", "parameter": {"datasource": "ots", "table": "src", "column": '"$COLS"', "splitSizeInMB": 0.03}}' \
    '{"plugin": "oss", "parameter": {"datasource": "oss", "object": "exp/src", "writeMode": "truncate", "fileFormat": "csv", "suffix": "csv", "blockSizeInMB": 1}}'
job restore '{"plugin": "oss", "parameter": {"datasource": "oss", "object": ["exp/src.part-*.csv"], "fileFormat": "csv", "column": [{"index": 0, "type": "long"}, {"index": 1, "type": "string"}, {"index": 2, "type": "bytes"}, {"index": 3, "type": "string"}, {"index": 4, "type": "long"}, {"index": 5, "type": "double"}, {"index": 6, "type": "boolean"}, {"index": 7, "type": "bytes"}]}}' \
    '{"plugin": "ots", "parameter": {"datasource": "ots", "table": "dst", "primaryKey": [{"name": "k1", "type": "INT"}, {"name": "k2", "type": "STRING"}, {"name": "k3", "type": "BINARY"}], "column": [{"name": "s", "type": "STRING"}, {"name": "i", "type": "INT"}, {"name": "d", "type": "DOUBLE"}, {"name": "b", "type": "BOOL"}, {"name": "bin", "type": "BINARY"}]}}'
job todps '{"plugin": "ots", "parameter": {"datasource": "ots", "table": "src", "column": '"$COLS"', "splitSizeInMB": 0.03}}' \
    '{"plugin": "odps", "parameter": {"datasource": "mc", "table": "copy", "column": ["*"], "truncate": true}}'
run() {     # run NAME: otsync-run NAME.json; RC
    timeout 300 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/$1.json" > "$WORK/$1.out" 2> "$WORK/$1.err"
    RC=$?
}
# the export's rows, sorted: which object a row lands in depends on which channel read its
# slice, which varies from run to run; the rows, their text and the set of names do not
objects() {
    curl -s "$EMU_OSS/_emu/oss/objects?bucket=exports" | jq -r '.[].key' | grep '^exp/' | LC_ALL=C sort \
        | tee "$WORK/names" | while read -r k; do curl -s "$EMU_OSS/_emu/oss/object?bucket=exports&key=$k"; done \
        | LC_ALL=C sort
    cat "$WORK/names"
}
faults() {
    for rule in \
        '{"service": "ots", "kind": "error", "share": 0.04, "status": 503, "code": "OTSServerBusy"}' \
        '{"service": "ots", "kind": "reset", "share": 0.03}' \
        '{"service": "oss", "kind": "error", "share": 0.04, "status": 503, "code": "ServiceUnavailable"}' \
        '{"service": "oss", "kind": "reset", "share": 0.03}' \
        '{"service": "tunnel", "kind": "error", "share": 0.05, "status": 500, "code": "InternalServerError"}' \
        '{"service": "tunnel", "kind": "reset", "share": 0.03}' \
        '{"kind": "stall", "share": 0.01, "stall_ms": 2000}'; do
        curl -s -X POST "$EMU_OTS/_emu/faults" -d "$rule" > /dev/null
    done
}
hits() { curl -s "$EMU_OTS/_emu/faults" | jq '[.[].hits] | add'; }

# --- clean runs: the reference outputs
run export
check_eq "channel 3, clean: exit 0" 0 "$RC"
objects > "$WORK/clean.objects"
fixture empty dst
run restore
check_eq "channel 5, clean: exit 0" 0 "$RC"
fixture dump dst | LC_ALL=C sort > "$WORK/dst-clean.txt"
check "channel 3 then 5, clean: the source back exactly" cmp -s "$WORK/src.txt" "$WORK/dst-clean.txt"
run todps
check_eq "channel 2, clean: exit 0" 0 "$RC"
curl -s "$EMU_ODPS/../_emu/odps/dump?project=wh&table=copy" | jq -c '.rows | sort' > "$WORK/odps-clean.json"
check_eq "channel 2, clean: every row landed" 4000 "$(jq length "$WORK/odps-clean.json")"

# --- the same with ~10 % of requests failing
faults
run export
check_eq "channel 3 with faults: exit 0" 0 "$RC"
objects > "$WORK/faulty.objects"
check "channel 3 with faults: the same objects, the same rows as the clean run" \
    cmp -s "$WORK/clean.objects" "$WORK/faulty.objects"
fixture empty dst2
sed 's/"table": "dst"/"table": "dst2"/' "$WORK/restore.json" > "$WORK/restore2.json"
run restore2
check_eq "channel 5 with faults: exit 0" 0 "$RC"
fixture dump dst2 | LC_ALL=C sort > "$WORK/dst-faulty.txt"
check "channel 5 with faults: the table is identical to the clean run's" \
    cmp -s "$WORK/dst-clean.txt" "$WORK/dst-faulty.txt"
run todps
check_eq "channel 2 with faults: exit 0" 0 "$RC"
curl -s "$EMU_ODPS/../_emu/odps/dump?project=wh&table=copy" | jq -c '.rows | sort' > "$WORK/odps-faulty.json"
check "channel 2 with faults: the table is identical to the clean run's" \
    cmp -s "$WORK/odps-clean.json" "$WORK/odps-faulty.json"
check "the faults were met ($(hits) times)" test "$(hits)" -gt 5
curl -s -X DELETE "$EMU_OTS/_emu/faults" > /dev/null

# --- channels 4 and 1: windows of a table's changes, read clean and with faults
(cd "$CONF" && node stream-fixture.js create changes) || not_ok "the stream fixture table"
curl -s -X POST "$EMU_ODPS/../_emu/odps/tables" -d '{"project": "wh", "table": "changes",
  "columns": [{"name": "k1", "type": "string"}, {"name": "k2", "type": "bigint"},
  {"name": "s", "type": "string"}, {"name": "i", "type": "bigint"}, {"name": "d", "type": "double"},
  {"name": "b", "type": "boolean"}, {"name": "bin", "type": "binary"}],
  "partition_columns": [{"name": "run", "type": "string"}, {"name": "w", "type": "string"}]}' > /dev/null
T0=$(( $(date +%s%3N) + 200 ))
W=700
(cd "$CONF" && node stream-fixture.js write changes $T0 $((T0 + 4 * W)) "$WORK" 5) > /dev/null
sleep 0.2
# window RUN K WRITER: channel 4 (WRITER oss) or 1 (odps) for window K of run RUN
window() {
    local s=$((T0 + $2 * W)) e=$((T0 + ($2 + 1) * W)) out
    if [ "$3" = oss ]; then
        out='{"plugin": "oss", "parameter": {"datasource": "oss", "object": "inc/'$1'/w'$2'", "writeMode": "truncate", "fileFormat": "csv"}}'
    else
        out='{"plugin": "odps", "parameter": {"datasource": "mc", "table": "changes", "partition": "run='$1',w='$2'", "truncate": true, "column": ["*"]}}'
    fi
    job win '{"plugin": "otsstream", "parameter": {"datasource": "ots", "dataTable": "changes", "statusTable": "st_'$1'_'$3'", "startTimestampMillis": '$s', "endTimestampMillis": '$e', "endLagSeconds": 0, "allowRescan": true, "mode": "single_version_and_update_only", "column": ["s", "i", "d", "b", "bin"]}}' "$out"
    run win
    [ "$RC" -eq 0 ] || { echo "# window $2 of $1 ($3) failed:"; tail -3 "$WORK/win.err"; }
    return "$RC"
}
incremental() {     # incremental RUN WRITER: the four windows; their rows, sorted
    local k
    for k in 0 1 2 3; do window "$1" "$k" "$2" || return 1; done
    if [ "$2" = oss ]; then
        curl -s "$EMU_OSS/_emu/oss/objects?bucket=exports" | jq -r '.[].key' | grep "^inc/$1/" \
            | while read -r key; do curl -s "$EMU_OSS/_emu/oss/object?bucket=exports&key=$key"; done
    else
        for k in 0 1 2 3; do
            curl -s "$EMU_ODPS/../_emu/odps/dump?project=wh&table=changes&partition=run=$1,w=$k" | jq -c '.rows[]'
        done
    fi | LC_ALL=C sort > "$WORK/inc-$1-$2.txt"
}
for out in oss odps; do
    incremental clean $out
    check_eq "channel $([ $out = oss ] && echo 4 || echo 1), clean: four windows read" 0 "$?"
    faults
    incremental faulty $out
    check_eq "channel $([ $out = oss ] && echo 4 || echo 1) with faults: four windows read" 0 "$?"
    curl -s -X DELETE "$EMU_OTS/_emu/faults" > /dev/null
    check "channel $([ $out = oss ] && echo 4 || echo 1) with faults: the same rows as the clean run ($(wc -l < "$WORK/inc-clean-$out.txt"))" \
        cmp -s "$WORK/inc-clean-$out.txt" "$WORK/inc-faulty-$out.txt"
done

# --- channel 3 killed 20 times at random moments, each followed by a rerun
same=0
for i in $(seq 1 20); do
    "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/export.json" > /dev/null 2>&1 &
    p=$!
    sleep "0.$(printf '%02d' $((RANDOM % 40)))"
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    run export
    objects > "$WORK/after-kill.objects"
    [ "$RC" -eq 0 ] && cmp -s "$WORK/clean.objects" "$WORK/after-kill.objects" && same=$((same + 1))
done
check_eq "channel 3 killed with SIGKILL 20 times: after each rerun the objects hold a clean export's rows" 20 "$same"
finish
