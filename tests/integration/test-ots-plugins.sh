#!/bin/bash
# The `ots` reader and writer against otsync-emu, checked by the official tablestore SDK
# (tests/conformance/ots-fixture.js makes the source table and reads back what was written):
# full exports with and without range.split, on 1 and 4 channels, equal the source exactly; a
# copy through the writer with 10 % of its rows refused retryably equals the source; rows the
# service refuses for good are dirty records naming the code and the key.
. "$(dirname "$0")/lib.sh"
FIX="$top_srcdir/tests/conformance/ots-fixture.js"
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
if [ ! -d "$top_srcdir/tests/conformance/node_modules/tablestore" ]; then
    (cd "$top_srcdir/tests/conformance" && npm ci --no-audit --no-fund) || exit 1
fi
start_emu || exit 1
export OTSYNC_EMU_OTS=$EMU_OTS OTSYNC_EMU_INSTANCE=inst
curl -s -X POST "$EMU_OTS/_emu/ots/instances?name=inst" > /dev/null
fixture() { (cd "$top_srcdir/tests/conformance" && node "$FIX" "$@"); }
fixture create src 3000 || { not_ok "the fixture table"; finish; exit 1; }
fixture dump src | LC_ALL=C sort > "$WORK/src.txt"
check_eq "the fixture has 3000 rows" 3000 "$(wc -l < "$WORK/src.txt")"

cat > "$WORK/ds.yaml" <<EOT
datasources:
  emu:
    type: ots
    endpoint: $EMU_OTS
    instance: inst
    access_key_id: otsync-emu-id
    access_key_secret: otsync-emu-secret
EOT
chmod 600 "$WORK/ds.yaml"
COLUMNS='[{"name": "k1"}, {"name": "k2"}, {"name": "k3"}, {"name": "s"}, {"name": "i"},
          {"name": "d"}, {"name": "b"}, {"name": "bin"}]'
# export NAME CHANNELS EXTRA-READER-PARAMS: the table through the ots reader to text
export_job() {
    cat > "$WORK/$1.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"speed": {"concurrent": $2}},
 "reader": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "src",
            "column": $COLUMNS $3}},
 "writer": {"plugin": "stream", "parameter": {"fieldDelimiter": "\t"}}}}
EOT
    timeout 120 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/$1.json" > "$WORK/$1.out" 2> "$WORK/$1.err"
    RC=$?
    sed '$d' "$WORK/$1.out" | LC_ALL=C sort > "$WORK/$1.txt"
}
export_job split4 4 ', "range": {"split": [{"type": "INT", "value": 20}, {"type": "INT", "value": 50},
                                           {"type": "INT", "value": 80}]}'
check_eq "range.split, 4 channels: exit 0" 0 "$RC"
check "range.split, 4 channels: 4 slices" grep -q "4 channels, 4 slices" "$WORK/split4.err"
check "range.split, 4 channels: equals the source exactly" cmp -s "$WORK/src.txt" "$WORK/split4.txt"
export_job size4 4 ', "splitSizeInMB": 0.02'
check_eq "split points by size, 4 channels: exit 0" 0 "$RC"
check "split points by size: several slices" grep -q "slices from the table's split points" "$WORK/size4.err"
check "split points by size, 4 channels: equals the source exactly" cmp -s "$WORK/src.txt" "$WORK/size4.txt"
export_job one1 1 ''
check_eq "1 channel: exit 0" 0 "$RC"
check "1 channel: equals the source exactly" cmp -s "$WORK/src.txt" "$WORK/one1.txt"
export_job range1 1 ', "range": {"begin": [{"type": "INT", "value": 10}], "end": [{"type": "INT", "value": 12}]}'
expected=$(awk -F'\t' '$1 >= 10 && $1 <= 12' "$WORK/src.txt" | wc -l)
check_eq "range.begin [10] to end [12] (missing key columns: INF_MIN, INF_MAX): only those rows" "$expected" "$(wc -l < "$WORK/range1.txt")"

# --- the writer: a copy with 10 % of its BatchWriteRow calls partly refused (retryably)
fixture empty dst
cat > "$WORK/copy.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"speed": {"concurrent": 4}},
 "reader": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "src",
            "column": $COLUMNS, "splitSizeInMB": 0.02}},
 "writer": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "dst",
            "primaryKey": [{"name": "k1", "type": "INT"}, {"name": "k2", "type": "STRING"},
                           {"name": "k3", "type": "BINARY"}],
            "column": [{"name": "s", "type": "STRING"}, {"name": "i", "type": "INT"},
                       {"name": "d", "type": "DOUBLE"}, {"name": "b", "type": "BOOL"},
                       {"name": "bin", "type": "BINARY"}],
            "writeMode": "PutRow", "batchWriteCount": 100}}}}
EOT
curl -s -X POST "$EMU_OTS/_emu/faults" \
    -d '{"service": "ots", "op": "BatchWriteRow", "kind": "partial", "share": 0.1}' > /dev/null
curl -s -X POST "$EMU_OTS/_emu/faults" \
    -d '{"service": "ots", "op": "GetRange", "kind": "error", "share": 0.1, "status": 503, "code": "OTSServerBusy"}' > /dev/null
timeout 120 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/copy.json" > "$WORK/copy.out" 2> "$WORK/copy.err"
check_eq "copy with faults: exit 0" 0 "$?"
hits=$(curl -s "$EMU_OTS/_emu/faults" | grep -o '"hits":[0-9]*' | sed 's/.*://' | paste -sd+ | bc)
check "copy with faults: the faults were met" test "${hits:-0}" -gt 0
curl -s -X DELETE "$EMU_OTS/_emu/faults" > /dev/null
fixture dump dst | LC_ALL=C sort > "$WORK/dst.txt"
check "copy with faults: the table equals the source" cmp -s "$WORK/src.txt" "$WORK/dst.txt"

# --- rows refused for good: dirty records with the code and the key
long=$(printf 'x%.0s' $(seq 1 1100))
cat > "$WORK/dirty.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"errorLimit": {"record": 5}},
 "reader": {"plugin": "stream", "parameter": {"sliceRecordCount": 3, "column": [
   {"type": "long", "value": 1}, {"type": "string", "value": "$long"}, {"type": "bytes", "value": "b"},
   {"type": "string", "value": "v"}]}},
 "writer": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "dst",
            "primaryKey": [{"name": "k1", "type": "INT"}, {"name": "k2", "type": "STRING"},
                           {"name": "k3", "type": "BINARY"}],
            "column": [{"name": "s", "type": "STRING"}]}}}}
EOT
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" --dirty-file "$WORK/dirty.jsonl" "$WORK/dirty.json" \
    > "$WORK/dirty.out" 2> "$WORK/dirty.err"
check_eq "a key longer than 1 KB: the job succeeds within errorLimit" 0 "$?"
check_eq "  ... 3 dirty records" 3 "$(wc -l < "$WORK/dirty.jsonl")"
check "  ... each names the service's code and the key" grep -q '"reason":"OTSParameterInvalid: .*(primary key \[1, xxxx' "$WORK/dirty.jsonl"

# --- multiVersion: one record per cell version, within timeRange
fixture versions ver
cat > "$WORK/mv.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "reader": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "ver", "mode": "multiVersion",
            "column": [{"name": "v"}, {"name": "w"}], "timeRange": {"begin": 1500, "end": 3000}}},
 "writer": {"plugin": "stream", "parameter": {"fieldDelimiter": ","}}}}
EOT
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/mv.json" > "$WORK/mv.out" 2> "$WORK/mv.err"
check_eq "multiVersion within [1500, 3000): each version a record" \
    "$(printf '1,v,2000,b\n1,w,1500,x')" "$(sed '$d' "$WORK/mv.out")"

# --- the writer's modes: UpdateRow (a null deletes the column), fixed versions, auto-increment
fixture versions upd
cat > "$WORK/upd.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "reader": {"plugin": "stream", "parameter": {"column": [{"type": "long", "value": 1},
            {"type": "string", "value": "new"}, {"type": "string", "value": null}]}},
 "writer": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "upd",
            "primaryKey": [{"name": "id", "type": "INT"}],
            "column": [{"name": "v", "type": "STRING"}, {"name": "w", "type": "STRING"}],
            "writeMode": "UpdateRow", "defaultTimestampInMillionSecond": 5000}}}}
EOT
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/upd.json" > "$WORK/upd.out" 2> "$WORK/upd.err"
check_eq "UpdateRow: exit 0" 0 "$?"
check "the misspelt defaultTimestampInMillionSecond is taken, with a warning" \
    grep -q "defaultTimestampInMillionSecond: read as defaultTimestampInMillisecond" "$WORK/upd.err"
check_eq "UpdateRow: a version at 5000 added to v, w (null) deleted" \
    "$(printf '1\tv\t5000\tnew\n1\tv\t3000\tc\n1\tv\t2000\tb')" "$(fixture cells upd)"
fixture autoinc auto
cat > "$WORK/auto.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "reader": {"plugin": "stream", "parameter": {"sliceRecordCount": 3, "column": [
            {"type": "string", "value": "x"}, {"type": "long", "value": 7}]}},
 "writer": {"plugin": "ots", "parameter": {"datasource": "emu", "table": "auto",
            "primaryKey": [{"name": "p", "type": "STRING"}],
            "column": [{"name": "n", "type": "INT"}]}}}}
EOT
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/auto.json" > "$WORK/auto.out" 2> "$WORK/auto.err"
check_eq "an auto-increment key left out of primaryKey: exit 0" 0 "$?"
check_eq "  ... three rows, each given its own key by the service" 3 \
    "$(fixture cells auto | cut -f1,2 | sort -u | wc -l)"

# --- mistakes
sed 's/"name": "k2", "type": "STRING"/"name": "kx", "type": "STRING"/' "$WORK/copy.json" > "$WORK/badkey.json"
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/badkey.json" > "$WORK/badkey.out" 2>&1
check_eq "a primaryKey that is not the table's: exit 2" 2 "$?"
check "  ... says which column" grep -q "key column 2 is k2, not the one listed here" "$WORK/badkey.out"
sed 's/"table": "src"/"table": "nosuch"/' "$WORK/one1.json" > "$WORK/notable.json"
timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/notable.json" > "$WORK/notable.out" 2>&1
check_eq "a missing table: exit 1" 1 "$?"
check "  ... says so" grep -q "OTSObjectNotExist" "$WORK/notable.out"
sed 's/access_key_secret: otsync-emu-secret/access_key_secret: wrong/' "$WORK/ds.yaml" > "$WORK/bad.yaml"
chmod 600 "$WORK/bad.yaml"
timeout 60 "$OTSYNC_RUN" -d "$WORK/bad.yaml" "$WORK/one1.json" > "$WORK/auth.out" 2>&1
check_eq "a wrong secret: exit 1" 1 "$?"
check "  ... OTSAuthFailed" grep -q "OTSAuthFailed" "$WORK/auth.out"
check "  ... the secret is not shown" lacks "wrong" "$(grep -v 'access_key_secret' "$WORK/auth.out")"
finish
