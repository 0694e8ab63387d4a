#!/bin/bash
# The `oss` writer and reader against otsync-emu, with the official SDKs as the test peers
# (ali-oss reads back what the writer wrote and plants a sibling object; the tablestore SDK's
# fixture makes and dumps the Table Store tables): object names follow the scheme; a rerun
# leaves exactly one copy; truncate spares `abc123` for prefix `abc`; append numbers after the
# existing parts; nonConflict refuses and writes nothing; multipart, roll-over, gzip and GBK;
# injected resets and 5xx mid-upload and mid-download change nothing in the output; a failure
# before Complete aborts the upload and leaves nothing; channel 3 then channel 5 (Table Store
# -> OSS -> a new table) gives the source back exactly, quotes, newlines and nulls included.
. "$(dirname "$0")/lib.sh"
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed"
    exit 77
fi
CONF="$top_srcdir/tests/conformance"
if [ ! -d "$CONF/node_modules/ali-oss" ] || [ ! -d "$CONF/node_modules/tablestore" ]; then
    (cd "$CONF" && npm ci --no-audit --no-fund) || exit 1
fi
start_emu || exit 1
curl -s -X POST "$EMU_OSS/_emu/oss/buckets?name=exports" > /dev/null
curl -s -X POST "$EMU_OTS/_emu/ots/instances?name=inst" > /dev/null
export OTSYNC_EMU_OTS=$EMU_OTS OTSYNC_EMU_INSTANCE=inst

cat > "$WORK/ds.yaml" <<EOT
datasources:
  exp:
    type: oss
    endpoint: $EMU_OSS
    bucket: exports
    access_key_id: otsync-emu-id
    access_key_secret: otsync-emu-secret
  emu:
    type: ots
    endpoint: $EMU_OTS
    instance: inst
    access_key_id: otsync-emu-id
    access_key_secret: otsync-emu-secret
EOT
chmod 600 "$WORK/ds.yaml"

# ali-oss against the emulator: node aoss get KEY | put KEY TEXT | head KEY
cat > "$WORK/aoss.js" <<'EOT'
'use strict';
const OSS = require(process.env.CONF + '/node_modules/ali-oss');
const c = new OSS({accessKeyId: 'otsync-emu-id', accessKeySecret: 'otsync-emu-secret',
                   region: 'oss-cn-hangzhou', endpoint: process.env.EMU_OSS, bucket: 'exports',
                   secure: false});
const [cmd, key, text] = process.argv.slice(2);
(async () => {
    if (cmd === 'get') process.stdout.write((await c.get(key)).content);
    else if (cmd === 'put') await c.put(key, Buffer.from(text));
    else if (cmd === 'type') console.log((await c.head(key)).res.headers['x-oss-object-type']);
})().catch((e) => { console.error(e.code || e.message); process.exit(1); });
EOT
aoss() { CONF=$CONF EMU_OSS=$EMU_OSS node "$WORK/aoss.js" "$@"; }
fixture() { (cd "$CONF" && node ots-fixture.js "$@"); }
# the bucket's keys under a prefix, sorted, one a line
keys() {
    curl -s "$EMU_OSS/_emu/oss/objects?bucket=exports" | jq -r '.[].key' \
        | awk -v p="$1" 'index($0, p) == 1' | LC_ALL=C sort
}
obj() { curl -s "$EMU_OSS/_emu/oss/object?bucket=exports&key=$1"; }
# the keys and each object's MD5 under a prefix, for "nothing changed" checks
state() { for k in $(keys "$1"); do echo "$k $(obj "$k" | md5sum | cut -c1-32)"; done; }
run() {    # run NAME: the job $WORK/NAME.json; RC, $WORK/NAME.out and .err
    timeout 120 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$WORK/$1.json" > "$WORK/$1.out" 2> "$WORK/$1.err"
    RC=$?
}
STREAM_COLS='[{"type": "string", "value": "a,b \"q\"\nline 2"}, {"type": "long", "value": 42},
  {"type": "string", "value": null}, {"type": "bytes", "value": "hi"},
  {"type": "double", "value": 1.5}, {"type": "string", "value": "\\N"},
  {"type": "string", "value": ""}, {"type": "bool", "value": true}]'
# wjob NAME CHANNELS RECORDS WRITER-PARAMS: stream reader -> oss writer
wjob() {
    cat > "$WORK/$1.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"speed": {"concurrent": $2}},
 "reader": {"plugin": "stream", "parameter": {"sliceRecordCount": $3, "column": $STREAM_COLS}},
 "writer": {"plugin": "oss", "parameter": {"datasource": "exp", $4}}}}
EOT
}
# rjob NAME READER-PARAMS: oss reader -> stream writer, the records sorted in NAME.txt
rjob() {
    cat > "$WORK/$1.json" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"speed": {"concurrent": 2}},
 "reader": {"plugin": "oss", "parameter": {"datasource": "exp", $2}},
 "writer": {"plugin": "stream", "parameter": {"fieldDelimiter": "|"}}}}
EOT
    run "$1"
    sed '$d' "$WORK/$1.out" | LC_ALL=C sort > "$WORK/$1.txt"
}
fault() { curl -s -X POST "$EMU_OSS/_emu/faults" -d "$1" > /dev/null; }
hits() { curl -s "$EMU_OSS/_emu/faults" | jq '[.[]?.hits // 0] | add // 0' 2>/dev/null || \
         curl -s "$EMU_OSS/_emu/faults" | jq '[.rules[].hits] | add'; }

# --- names, csv, and the official client reading it back
CSV='"object": "exp/abc", "writeMode": "truncate", "fileFormat": "csv", "suffix": "csv",
     "header": ["s", "n", "z", "b", "d", "nf", "e", "t"]'
wjob w1 2 3 "$CSV"
run w1
check_eq "write, 2 channels: exit 0" 0 "$RC"
check_eq "write: one object per channel, named by the scheme" \
    "exp/abc.part-00001.csv exp/abc.part-00002.csv" "$(keys exp/abc | paste -sd' ')"
expected=$(printf 's,n,z,b,d,nf,e,t\n'; for i in 1 2 3; do printf '"a,b ""q""\nline 2",42,\\N,aGk=,1.5,"\\N","",true\n'; done)
check_eq "write: RFC 4180 csv, header, null as \\N, a string \\N quoted, binary as base64" \
    "$expected" "$(obj exp/abc.part-00001.csv)"
check_eq "ali-oss reads back what was written" "$(obj exp/abc.part-00002.csv | md5sum)" \
    "$(aoss get exp/abc.part-00002.csv | md5sum)"
check "ali-oss plants a sibling exp/abc123 and exp/abc.part-00009.csv.bak" \
    eval 'aoss put exp/abc123 sibling && aoss put exp/abc.part-00009.csv.bak other'
before=$(state exp/abc)

# --- reruns: truncate leaves exactly one copy and spares the siblings
run w1
check_eq "rerun (truncate): exit 0" 0 "$RC"
check_eq "rerun (truncate): the same objects, byte for byte; the siblings untouched" \
    "$before" "$(state exp/abc)"
check "rerun (truncate): the log says what it deleted" \
    grep -q "deleted 2 objects of this export under 'exp/abc'" "$WORK/w1.err"
wjob w2 2 3 "${CSV/truncate/append}"
run w2
check_eq "append: exit 0" 0 "$RC"
check_eq "append: new parts after the existing ones" \
    "exp/abc.part-00001.csv exp/abc.part-00002.csv exp/abc.part-00003.csv exp/abc.part-00004.csv" \
    "$(keys exp/abc.part | grep -v bak | paste -sd' ')"
run w1
check_eq "truncate after append: back to one copy, siblings kept" "$before" "$(state exp/abc)"
wjob w3 2 3 "${CSV/truncate/nonConflict}"
run w3
check_eq "nonConflict with objects there: exit 1" 1 "$RC"
check "nonConflict: says why and that nothing was written" \
    grep -q "writeMode nonConflict: 2 objects of this export already exist under 'exp/abc' (such as 'exp/abc.part-00001.csv'); nothing was written" "$WORK/w3.err"
check_eq "nonConflict: nothing changed" "$before" "$(state exp/abc)"
wjob w4 1 2 '"object": "exp/nc/", "writeMode": "nonConflict", "fileFormat": "text", "fieldDelimiter": "||"'
run w4
check_eq "nonConflict on a fresh prefix: exit 0" 0 "$RC"
check_eq "a prefix ending in / names part-NNNNN under it" "exp/nc/part-00001" "$(keys exp/nc/)"
check "text: no quoting, the delimiter as given" \
    eval '[ "$(obj exp/nc/part-00001 | head -n 1)" = "a,b \"q\"" ]'

# --- multipart, roll-over, faults, abort
BIG='"writeMode": "truncate", "fileFormat": "csv", "blockSizeInMB": 1, "maxFileSize": 2'
wjob big 1 100000 "\"object\": \"exp/big\", $BIG"
run big
check_eq "multipart: exit 0" 0 "$RC"
check_eq "roll-over at maxFileSize: three objects" 3 "$(keys exp/big | wc -l)"
check_eq "an object over one block is a completed multipart upload" Multipart \
    "$(aoss type exp/big.part-00001)"
check "the multipart parts are blockSizeInMB" grep -q "wrote 'exp/big.part-00001' (2[0-9]* bytes in 2 parts)" "$WORK/big.err"
fault '{"service": "oss", "op": "UploadPart", "kind": "reset", "count": 2}'
fault '{"service": "oss", "op": "InitiateMultipartUpload", "kind": "error", "count": 1, "status": 503, "code": "ServiceUnavailable"}'
fault '{"service": "oss", "op": "CompleteMultipartUpload", "kind": "reset", "count": 1}'
fault '{"service": "oss", "op": "PutObject", "kind": "error", "count": 2, "status": 500, "code": "InternalError"}'
wjob bigf 1 100000 "\"object\": \"exp/bigf\", $BIG"
run bigf
check_eq "resets and 5xx mid-upload: exit 0" 0 "$RC"
check_eq "resets and 5xx mid-upload: identical objects" \
    "$(state exp/big. | sed 's/^exp.big\./X./')" "$(state exp/bigf. | sed 's/^exp.bigf\./X./')"
check_eq "the faults were all met" 6 "$(curl -s "$EMU_OSS/_emu/faults" | grep -o '"hits":[0-9]*' | sed 's/.*://' | paste -sd+ | bc)"
curl -s -X DELETE "$EMU_OSS/_emu/faults" > /dev/null
fault '{"service": "oss", "op": "CompleteMultipartUpload", "kind": "error", "count": 1, "status": 400, "code": "InvalidPart"}'
wjob abort 1 40000 "\"object\": \"exp/abort\", $BIG"
run abort
check_eq "a refused Complete: exit 1" 1 "$RC"
check "a refused Complete: the error names the code" grep -q "InvalidPart" "$WORK/abort.err"
check "a refused Complete: the upload was aborted" \
    grep -q "aborted the upload of 'exp/abort.part-00001': nothing of it was kept" "$WORK/abort.err"
check_eq "a refused Complete: no object appears" "" "$(keys exp/abort)"
curl -s -X DELETE "$EMU_OSS/_emu/faults" > /dev/null

# --- the reader
rjob r1 '"object": ["exp/big.part-*"], "column": [{"index": 1, "type": "long"}, {"index": 0, "type": "string"}]'
check_eq "reader, a pattern: exit 0" 0 "$RC"
check "reader: one slice per object" grep -q "2 channels, 3 slices" "$WORK/r1.err"
check_eq "reader: every record of the multipart objects" 100000 "$(grep -c '^42|a,b "q"$' "$WORK/r1.txt")"
fault '{"service": "oss", "op": "GetObject", "kind": "reset", "count": 3}'
fault '{"service": "oss", "op": "HeadObject", "kind": "error", "count": 1, "status": 503, "code": "ServiceUnavailable"}'
rjob r2 '"object": ["exp/big.part-*"], "column": [{"index": 1, "type": "long"}, {"index": 0, "type": "string"}]'
check_eq "reader, resets mid-download: exit 0" 0 "$RC"
check "reader, resets mid-download: identical records" cmp -s "$WORK/r1.txt" "$WORK/r2.txt"
curl -s -X DELETE "$EMU_OSS/_emu/faults" > /dev/null
rjob r3 '"object": ["exp/abc.part-00001.csv", "exp/abc.part-00001.csv"], "skipHeader": true,
  "column": [{"index": 0, "type": "string"}, {"index": 1, "type": "long"}, {"index": 2, "type": "string"},
             {"index": 3, "type": "bytes"}, {"index": 4, "type": "double"}, {"index": 5, "type": "string"},
             {"index": 6, "type": "string"}, {"index": 7, "type": "boolean"}, {"value": "K", "type": "string"}]'
check_eq "reader, one key named twice: read once" 3 "$(grep -c '^line 2|42|null|hi|1.5|\\N||true|K$' "$WORK/r3.txt")"
rjob r4 '"object": ["exp/nosuch.csv"]'
check_eq "reader, a missing key: exit 1" 1 "$RC"
check "reader, a missing key: says so" grep -q "NoSuchKey.*the object does not exist" "$WORK/r4.err"

# --- gzip and GBK, both ways
wjob gz 2 500 '"object": "exp/gz/t", "writeMode": "truncate", "fileFormat": "csv", "compress": "gzip", "encoding": "GBK", "suffix": ".csv.gz"'
sed -i 's/"a,b \\"q\\"\\nline 2"/"数据, \\"引号\\"\\n第二行"/' "$WORK/gz.json"
run gz
check_eq "gzip + GBK: exit 0" 0 "$RC"
check "gzip + GBK: the object is gzip of GBK text" \
    eval 'obj exp/gz/t.part-00001.csv.gz | gzip -dc | iconv -f GBK -t UTF-8 | grep -q "^\"数据, \"\"引号\"\"$"'
rjob gzr '"object": ["exp/gz/*.csv.gz"], "compress": "gzip", "encoding": "GBK", "column": [{"index": 0, "type": "string"}]'
check_eq "gzip + GBK read back: exit 0" 0 "$RC"
check_eq "gzip + GBK read back: every record" 1000 "$(grep -c '^第二行$' "$WORK/gzr.txt")"

# --- signature V4, and a wrong secret
wjob v4 1 1 '"object": "exp/v4", "writeMode": "truncate", "endpoint": "'"$EMU_OSS"'",
  "accessId": "otsync-emu-id", "accessKey": "otsync-emu-secret", "bucket": "exports",
  "datasource": "", "signatureVersion": 4, "region": "cn-hangzhou"'
sed -i 's/"datasource": "exp", //' "$WORK/v4.json"
run v4
check_eq "signature V4, inline connection: exit 0" 0 "$RC"
sed 's/otsync-emu-secret/wrong/; s/"signatureVersion": 4, "region": "cn-hangzhou"/"signatureVersion": 1/' \
    "$WORK/v4.json" > "$WORK/badkey.json"
run badkey
check_eq "a wrong secret: exit 1" 1 "$RC"
check "a wrong secret: says what to check" grep -q "SignatureDoesNotMatch.*check accessId and accessKey" "$WORK/badkey.err"
check "a wrong secret: not printed" lacks "wrong" "$(grep -v '^{' "$WORK/badkey.err")"

# --- channel 3 then channel 5: Table Store -> OSS -> a new Table Store table
fixture create src 300 || { not_ok "the fixture table"; finish; exit 1; }
CONF=$CONF node -e '
const TableStore = require(process.env.CONF + "/node_modules/tablestore");
const c = new TableStore.Client({accessKeyId: "otsync-emu-id", secretAccessKey: "otsync-emu-secret",
  endpoint: process.env.OTSYNC_EMU_OTS, instancename: "inst"});
const L = TableStore.Long;
c.putRow({tableName: "src", condition: new TableStore.Condition(TableStore.RowExistenceExpectation.IGNORE, null),
  primaryKey: [{k1: L.fromNumber(1000)}, {k2: "a \"quoted\", key\nwith a newline"}, {k3: Buffer.from([0, 10, 34, 44])}],
  attributeColumns: [{s: "\\N"}, {i: L.fromNumber(-1)}, {bin: Buffer.from("\r\n\"")}]},
  (e) => process.exit(e ? 1 : 0));' || not_ok "the tricky row"
fixture dump src > "$WORK/src.txt"
fixture empty dst
sed -e 's/"ots_source"/"emu"/; s/"oss_exports"/"exp"/; s#"backup/ots/${bdp.system.bizdate}/gps_data"#"exp/ch3/src"#' \
    -e 's/"table": "gps_data"/"table": "src"/' \
    "$top_srcdir/etc/jobs/channel3-ots-to-oss.json" > "$WORK/ch3.json"
run ch3
check_eq "channel 3 (the example job): exit 0" 0 "$RC"
sed -e 's/"ots_source"/"emu"/; s/"oss_exports"/"exp"/; s#"backup/ots/20181015/gps_data\.part-\*\.csv"#"exp/ch3/src.part-*.csv"#' \
    -e 's/"table": "gps_data_restored"/"table": "dst"/' \
    "$top_srcdir/etc/jobs/channel5-oss-to-ots.json" > "$WORK/ch5.json"
run ch5
check_eq "channel 5 (the example job): exit 0" 0 "$RC"
fixture dump dst > "$WORK/dst.txt"
check_eq "channel 3 then 5: as many rows as the source" "$(grep -c $'^[0-9]*\t' "$WORK/src.txt")" \
    "$(grep -c $'^[0-9]*\t' "$WORK/dst.txt")"
check "channel 3 then 5: the new table equals the source exactly" cmp -s "$WORK/src.txt" "$WORK/dst.txt"
finish
