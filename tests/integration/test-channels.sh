#!/bin/bash
# Reliability of the full-export channels against otsync-emu:
# - channels 3 (Table Store -> OSS), 5 (OSS -> Table Store) and 2 (Table Store -> MaxCompute)
#   with the emulator failing about 10 % of requests (503 busy, 500, connection resets and
#   2 s stalls, across every service): each completes, and its output is identical to a run
#   without faults;
# - channel 3 killed with SIGKILL at a random moment 20 times, each time run again as the
#   daemon's rerun does (the same job): the objects equal a clean export every time.
# The source table is made and read back with the official tablestore SDK.
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
