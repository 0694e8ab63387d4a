#!/bin/bash
# The odps writer against otsync-emu, read back with the emulator's dump: a full export of
# every type (nulls, conversions, dirty records) lands exactly the rows; an hour of 5-minute
# windows lands each window once in its own partition, also after a rerun; block uploads that
# fail are sent again and the data stays exact; a failed run commits nothing; the warning about
# a day partition truncated by a minute task; configuration errors before any data moves.
. "$(dirname "$0")/lib.sh"
export TZ=UTC
start_emu || { finish; exit 1; }
ADMIN=${EMU_ODPS%/api}/_emu
P=warehouse

admin() {   # admin METHOD PATH [JSON]: an emulator admin call; prints the answer
    curl -s -X "$1" "$ADMIN/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}
}
dump() {    # dump TABLE [SPEC]: the committed rows
    local q=""
    [ -n "${2:-}" ] && q="&partition=$(sed 's/=/%3D/g; s/,/%2C/g' <<<"$2")"
    admin GET "odps/dump?project=$P&table=$1$q"
}
count() {   # count NEEDLE TEXT: how often NEEDLE occurs in TEXT
    grep -oF -- "$1" <<<"$2" | wc -l | tr -d ' '
}
# job FILE WRITER-PARAMS READER-PARAMS [SETTING]: a DataWorks job, stream reader to odps writer
# (two channels unless SETTING says otherwise)
TWO='{"speed": {"concurrent": 2}}'
job() {
    cat > "$1" <<EOF
{"type": "job", "version": "1.0", "configuration": {
  "setting": ${4:-$TWO},
  "reader": {"plugin": "stream", "parameter": {$3}},
  "writer": {"plugin": "odps", "parameter": {$2}}}}
EOF
}
# run ARGS...: otsync-run with a time limit; sets OUT (stdout), ERR (stderr), RC, LAST (summary)
run() {
    OUT=$(timeout 60 "$OTSYNC_RUN" "$@" 2> "$WORK/err.txt")
    RC=$?
    ERR=$(cat "$WORK/err.txt")
    LAST=$(tail -n 1 <<<"$OUT")
}
CONN="\"odpsServer\": \"$EMU_ODPS\", \"accessId\": \"otsync-emu-id\",
      \"accessKey\": \"otsync-emu-secret\", \"project\": \"$P\""

# --- tables
admin POST odps/tables '{"project": "warehouse", "table": "all_types", "columns": [
  {"name": "c_bigint", "type": "bigint"}, {"name": "c_int", "type": "int"},
  {"name": "c_smallint", "type": "smallint"}, {"name": "c_tinyint", "type": "tinyint"},
  {"name": "c_double", "type": "double"}, {"name": "c_float", "type": "float"},
  {"name": "c_bool", "type": "boolean"}, {"name": "c_string", "type": "string"},
  {"name": "c_varchar", "type": "varchar(20)"}, {"name": "c_char", "type": "char(4)"},
  {"name": "c_decimal", "type": "decimal(10,2)"}, {"name": "c_bigdec", "type": "decimal(38,2)"},
  {"name": "c_datetime", "type": "datetime"}, {"name": "c_date", "type": "date"},
  {"name": "c_timestamp", "type": "timestamp"}, {"name": "c_binary", "type": "binary"},
  {"name": "n_string", "type": "string"}, {"name": "n_bigint", "type": "bigint"},
  {"name": "n_datetime", "type": "datetime"}, {"name": "n_bool", "type": "boolean"},
  {"name": "n_binary", "type": "binary"}, {"name": "c_empty", "type": "string"},
  {"name": "c_unlisted", "type": "string"}]}' > /dev/null
admin POST odps/tables '{"project": "warehouse", "table": "changes", "columns": [
  {"name": "window_start", "type": "string"}, {"name": "window_end", "type": "string"},
  {"name": "seq", "type": "bigint"}],
  "partition_columns": [{"name": "pt", "type": "string"}, {"name": "hm", "type": "string"}]}' \
  > /dev/null
admin POST odps/tables '{"project": "warehouse", "table": "big", "columns": [
  {"name": "id", "type": "bigint"}, {"name": "payload", "type": "string"}]}' > /dev/null
check_eq "tables: made, empty" '{"rows":[]}' "$(dump all_types)"

# --- channel 2: a full export of every type, through a datasource (tunnel discovered)
printf 'otsync-emu-secret\n' > "$WORK/mc.secret"
chmod 600 "$WORK/mc.secret"
{
    echo "datasources:"
    echo "  mc:"
    echo "    type: odps"
    echo "    endpoint: $EMU_ODPS"
    echo "    project: $P"
    echo "    access_key_id: otsync-emu-id"
    echo "    access_key_secret_file: $WORK/mc.secret"
} > "$WORK/ds.yaml"
chmod 600 "$WORK/ds.yaml"
READ_ALL='"sliceRecordCount": 3, "column": [
  {"type": "long", "value": 9007199254740993}, {"type": "string", "value": "-2147483648"},
  {"type": "long", "value": 32767}, {"type": "long", "value": -128},
  {"type": "double", "value": 3.25}, {"type": "double", "value": 0.5},
  {"type": "bool", "value": true}, {"type": "string", "value": "中文 text"},
  {"type": "long", "value": 42}, {"type": "string", "value": "abcd"},
  {"type": "string", "value": "12.5"}, {"type": "double", "value": 1e20},
  {"type": "date", "value": "2024-01-02 03:04:05"}, {"type": "string", "value": "2024-01-02"},
  {"type": "date", "value": "2024-01-02 03:04:05"}, {"type": "bytes", "value": "raw\u0001"},
  {"type": "string", "value": null}, {"type": "long", "value": null},
  {"type": "date", "value": null}, {"type": "bool", "value": null},
  {"type": "bytes", "value": null}, {"type": "string", "value": ""}]'
COLS='"c_bigint", "c_int", "c_smallint", "c_tinyint", "c_double", "c_float", "c_bool",
  "c_string", "c_varchar", "c_char", "c_decimal", "c_bigdec", "c_datetime", "c_date",
  "c_timestamp", "c_binary", "n_string", "n_bigint", "n_datetime", "n_bool", "n_binary",
  "c_empty"'
job "$WORK/full.json" "\"datasource\": \"mc\", \"table\": \"all_types\", \"column\": [$COLS],
  \"truncate\": true, \"emptyAsNull\": true" "$READ_ALL"
run -d "$WORK/ds.yaml" "$WORK/full.json"
check_eq "full export: exit 0" 0 "$RC"
check "full export: 6 records written" has '"records_written":6,' "$LAST"
check "full export: the tunnel endpoint was asked for" has "tunnel endpoint ${EMU_TUNNEL}" "$ERR"
ROW='[9007199254740993,-2147483648,32767,-128,3.25,0.5,true,"中文 text","42","abcd","12.5",'
ROW+='"100000000000000000000",1704164645000,19724,{"seconds":1704164645,"nanos":0},"cmF3AQ==",'
ROW+='null,null,null,null,null,null,null]'
check_eq "full export: exactly the rows, every type and null" \
    "{\"rows\":[$ROW,$ROW,$ROW,$ROW,$ROW,$ROW]}" "$(dump all_types)"
run -d "$WORK/ds.yaml" "$WORK/full.json"
check_eq "full export again with truncate: still exactly the rows" \
    "{\"rows\":[$ROW,$ROW,$ROW,$ROW,$ROW,$ROW]}" "$(dump all_types)"

# ["*"] maps by table order; deflated blocks; truncate false appends
job "$WORK/star.json" "$CONN, \"table\": \"big\", \"column\": [\"*\"], \"truncate\": false,
  \"isCompress\": true" '"sliceRecordCount": 2, "column": [{"type": "long", "value": 5},
  {"type": "string", "value": "five"}]'
run "$WORK/star.json"
run "$WORK/star.json"
check_eq "column *, deflate, truncate false: two runs append" \
    "{\"rows\":[$(printf '[5,"five"],%.0s' 1 2 3 4 5 6 7)[5,\"five\"]]}" \
    "$(dump big)"

# --- dirty records: a value that cannot become its column's type
job "$WORK/dirty.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"payload\"],
  \"truncate\": true" '"sliceRecordCount": 4, "column": [{"type": "string", "value": "abc"},
  {"type": "string", "value": "x"}]' '{"errorLimit": {"record": 100}, "speed": {"concurrent": 1}}'
run --dirty-file "$WORK/dirty.jsonl" "$WORK/dirty.json"
check_eq "dirty: the job passes within errorLimit" 0 "$RC"
check "dirty: 4 dirty, none written" has '"records_written":0,"records_dirty":4' "$LAST"
check "dirty: the reason names the column and the value" has \
    'column id (bigint): \"abc\" is not an integer' "$(cat "$WORK/dirty.jsonl" 2>/dev/null)"
check_eq "dirty: truncate with no good record empties the table at commit" '{"rows":[]}' \
    "$(dump big)"
job "$WORK/dirty0.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"payload\"],
  \"truncate\": true" '"sliceRecordCount": 1, "column": [{"type": "string", "value": "abc"},
  {"type": "string", "value": "x"}]'
run "$WORK/dirty0.json"
check_eq "dirty over errorLimit: exit 1" 1 "$RC"

# --- channel 1: an hour of 5-minute windows, each into its own partition
job "$WORK/window.json" "$CONN, \"table\": \"changes\",
  \"partition\": \"pt=\${bdp.system.bizdate},hm=\$[hh24mi-5/24/60]\",
  \"column\": [\"window_start\", \"window_end\", \"seq\"], \"truncate\": true" \
  '"sliceRecordCount": 5, "column": [{"type": "string", "value": "${startTime}"},
  {"type": "string", "value": "${endTime}"}, {"type": "long", "value": 1}]'
window() {  # window HHMM: the run of the cycle at 2024-01-02 HH:MM
    run -c "20240102${1}00" -p 'startTime=$[yyyymmddhh24miss-10/24/60]' \
        -p 'endTime=$[yyyymmddhh24miss-5/24/60]' "$WORK/window.json"
}
ok_runs=0
for m in 1005 1010 1015 1020 1025 1030 1035 1040 1045 1050 1055 1100; do
    window $m
    [ "$RC" = 0 ] && ok_runs=$((ok_runs + 1))
done
check_eq "windows: 12 runs succeed" 12 "$ok_runs"
check "windows: no truncate warning for a partition per window" lacks "empties that whole day" \
    "$ERR"
PARTS=$(admin GET "odps/partitions?project=$P&table=changes")
for hm in 1000 1005 1010 1015 1020 1025 1030 1035 1040 1045 1050 1055; do
    check "windows: partition hm=$hm made" has "\"pt=20240101,hm=$hm\"" "$PARTS"
done
check_eq "windows: 12 partitions and no more" 12 "$(count '"pt=' "$PARTS")"
# the run at t covers [t-10, t-5) and writes partition hm = t-5, the window's end
EXPECT=""
for i in 1 2 3 4 5 6 7 8 9 10; do
    EXPECT+="${EXPECT:+,}[\"20240102102000\",\"20240102102500\",1]"
done
check_eq "windows: the 10:30 run's partition holds its window, once" "{\"rows\":[$EXPECT]}" \
    "$(dump changes pt=20240101,hm=1025)"
ALL=$(dump changes)
check_eq "windows: 120 rows in all" 120 "$(count '",1,"20240101"' "$ALL")"
bad=0
for m in 0955 1000 1005 1010 1015 1020 1025 1030 1035 1040 1045 1050; do
    [ "$(count "[\"20240102${m}00\"," "$ALL")" = 10 ] || bad=$((bad + 1))
done
check_eq "windows: every window's rows exactly once, in the window's own partition" 0 "$bad"
window 1030
check_eq "rerun: exit 0" 0 "$RC"
check_eq "rerun: the partition holds one copy" "{\"rows\":[$EXPECT]}" \
    "$(dump changes pt=20240101,hm=1025)"
check_eq "rerun: still 120 rows in all" 120 "$(count '",1,"20240101"' "$(dump changes)")"

# --- the channel-1 trap: truncating a day partition from a minute task
job "$WORK/day.json" "$CONN, \"table\": \"changes\", \"partition\": \"pt=20240101,hm=0005\",
  \"column\": [\"window_start\"], \"truncate\": true" \
  '"column": [{"type": "string", "value": "x"}]'
OTSYNC_CYCLE=minute/5 run "$WORK/day.json"
check "warning: not for a partition with a finer level" lacks "empties that whole day" "$ERR"
admin POST odps/tables '{"project": "warehouse", "table": "daily", "columns": [
  {"name": "v", "type": "string"}], "partition_columns": [{"name": "pt", "type": "string"}]}' \
  > /dev/null
job "$WORK/daily.json" "$CONN, \"table\": \"daily\", \"partition\": \"pt=\${bdp.system.bizdate}\",
  \"column\": [\"v\"], \"truncate\": true" '"column": [{"type": "string", "value": "x"}]'
OTSYNC_CYCLE=minute/5 run -c 20240102100500 "$WORK/daily.json"
check_eq "warning: the job still runs" 0 "$RC"
check "warning: a minute task (OTSYNC_CYCLE) truncating a day partition" has \
    "writer odps: truncate with partition 'pt=20240101' empties that whole day at every run" "$ERR"
check "warning: ... suggests a partition per window" has 'hm=$[hh24mi-5/24/60]' "$ERR"
OTSYNC_CYCLE=day run -c 20240102100500 "$WORK/daily.json"
check "warning: not for a daily task" lacks "empties that whole day" "$ERR"
run -c 20240102100500 -p 'endTime=$[yyyymmddhh24miss-5/24/60]' "$WORK/daily.json"
check "warning: by hand, guessed from a -p minute window" has "OTSYNC_CYCLE=minute" "$ERR"
run -c 20240102100500 "$WORK/daily.json"
check "warning: by hand without a window: none" lacks "empties that whole day" "$ERR"

# --- failing block uploads are sent again; the data stays exact
PAYLOAD=$(head -c 1000 /dev/zero | tr '\0' 'p')
job "$WORK/big.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"payload\"],
  \"truncate\": true, \"blockSizeInMB\": 1" "\"sliceRecordCount\": 1500, \"column\": [
  {\"type\": \"long\", \"value\": 1}, {\"type\": \"string\", \"value\": \"$PAYLOAD\"}]"
admin POST faults '{"service": "tunnel", "op": "UploadBlock", "kind": "error", "count": 2,
  "status": 500, "code": "InternalServerError"}' > /dev/null
run "$WORK/big.json"
check_eq "block errors: exit 0" 0 "$RC"
check "block errors: the injected faults were hit" has '"hits":2' "$(admin GET faults)"
check "block errors: several blocks were committed" has "4 blocks, 3000 records" "$ERR"
check_eq "block errors: exactly 3000 rows" 3000 "$(count '[1,"ppp' "$(dump big)")"
admin DELETE faults > /dev/null
admin POST faults '{"service": "tunnel", "op": "UploadBlock", "kind": "reset", "count": 1}' \
  > /dev/null
run "$WORK/big.json"
check_eq "connection reset mid-block: exit 0" 0 "$RC"
check "connection reset: hit" has '"hits":1' "$(admin GET faults)"
BEFORE=$(dump big)
check_eq "connection reset: exactly 3000 rows" 3000 "$(count '[1,"ppp' "$BEFORE")"
admin DELETE faults > /dev/null

# --- a failed run commits nothing
admin POST faults '{"service": "tunnel", "op": "UploadBlock", "kind": "error", "count": 1000,
  "status": 500, "code": "InternalServerError"}' > /dev/null
job "$WORK/bigfail.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"payload\"],
  \"truncate\": true, \"blockSizeInMB\": 1, \"maxRetryTime\": 2" "\"sliceRecordCount\": 10,
  \"column\": [{\"type\": \"long\", \"value\": 2}, {\"type\": \"string\", \"value\": \"q\"}]"
run "$WORK/bigfail.json"
check_eq "blocks that keep failing: exit 1" 1 "$RC"
check "blocks that keep failing: the error names the block and the service's code" has \
    "InternalServerError" "$LAST"
check_eq "blocks that keep failing: the table is as before" "$BEFORE" "$(dump big)"
admin DELETE faults > /dev/null
job "$WORK/readfail.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"payload\"],
  \"truncate\": true" '"sliceRecordCount": 10, "fail": true, "column": [
  {"type": "long", "value": 3}, {"type": "string", "value": "r"}]'
run "$WORK/readfail.json"
check_eq "reader fails: exit 1" 1 "$RC"
check_eq "reader fails: truncate did not empty the table, nothing was added" "$BEFORE" \
    "$(dump big)"
job "$WORK/wfail.json" "$CONN, \"table\": \"changes\", \"partition\": \"pt=20240101,hm=1025\",
  \"column\": [\"window_start\", \"window_end\", \"seq\"], \"truncate\": true" \
  '"sliceRecordCount": 3, "fail": true, "column": [{"type": "string", "value": "bad"},
  {"type": "string", "value": "bad"}, {"type": "long", "value": 9}]'
run "$WORK/wfail.json"
check_eq "failed window rerun: exit 1" 1 "$RC"
check_eq "failed window rerun: the partition keeps its rows" "{\"rows\":[$EXPECT]}" \
    "$(dump changes pt=20240101,hm=1025)"

# --- configuration errors: exit 2, before anything is written
job "$WORK/e1.json" "$CONN, \"table\": \"nosuch\", \"column\": [\"*\"], \"truncate\": true" \
  '"column": [{"type": "long", "value": 1}]'
run "$WORK/e1.json"
check_eq "missing table: exit 2" 2 "$RC"
check "missing table: says it must exist" has "(the table must exist)" "$LAST"
job "$WORK/e2.json" "$CONN, \"table\": \"changes\", \"partition\": \"pt=20240101\",
  \"column\": [\"seq\"], \"truncate\": false" '"column": [{"type": "long", "value": 1}]'
run "$WORK/e2.json"
check_eq "partition short of a level: exit 2" 2 "$RC"
check "partition short of a level: names the missing level" has "(missing 'hm')" "$LAST"
job "$WORK/e3.json" "$CONN, \"table\": \"big\", \"column\": [\"id\", \"nope\"],
  \"truncate\": false" '"column": [{"type": "long", "value": 1}]'
run "$WORK/e3.json"
check_eq "unknown column: exit 2" 2 "$RC"
check "unknown column: named" has "'nope' is not a column of table big" "$LAST"
job "$WORK/e4.json" "$CONN, \"table\": \"big\", \"column\": [\"id\"], \"truncate\": false" \
  '"column": [{"type": "long", "value": 1}, {"type": "long", "value": 2}]'
run "$WORK/e4.json"
check_eq "more values than columns: exit 2" 2 "$RC"
job "$WORK/e5.json" "$CONN, \"table\": \"big\", \"column\": [\"id\"], \"truncate\": false,
  \"partition\": \"pt=1\"" '"column": [{"type": "long", "value": 1}]'
run "$WORK/e5.json"
check_eq "a partition for a table without: exit 2" 2 "$RC"
job "$WORK/e6.json" "\"odpsServer\": \"$EMU_ODPS\", \"accessId\": \"otsync-emu-id\",
  \"accessKey\": \"wrong\", \"project\": \"$P\", \"table\": \"big\", \"column\": [\"id\"],
  \"truncate\": false" '"column": [{"type": "long", "value": 1}]'
run "$WORK/e6.json"
check_eq "wrong key: exit 1" 1 "$RC"
check "wrong key: the service's answer" has "HTTP 401 Unauthorized" "$LAST"
job "$WORK/e7.json" "\"table\": \"big\", \"column\": [\"id\"], \"truncate\": false" \
  '"column": [{"type": "long", "value": 1}]'
run "$WORK/e7.json"
check_eq "no connection: exit 2" 2 "$RC"
check_eq "after the errors: the table is as before" "$BEFORE" "$(dump big)"
check "no sanitizer report from otsync-run" lacks "Sanitizer" "$ERR"
finish
