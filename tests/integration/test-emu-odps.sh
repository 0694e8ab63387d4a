#!/bin/bash
# otsync-emu's MaxCompute, driven by tests/emu-odps-client: tables made through the admin call,
# schema and partition reads, partition DDL as SQL instances, upload sessions (only committed
# blocks become rows, a re-uploaded block id replaces the old one, corrupt blocks and bad
# signatures are refused with the service's codes), injected faults, and the state kept across
# a restart with --data.
. "$(dirname "$0")/lib.sh"
EMU="$top_builddir/otsync-emu"
CLIENT="$top_builddir/tests/emu-odps-client"
P=emu_proj
PART=pt=1,hm=0005
PART_Q='pt%3D1%2Chm%3D0005'

# start_emu NAME [ARGS...]: starts an emulator, sets EMU_PID, API and TUNNEL from its JSON line
start_emu() {
    local name=$1; shift
    "$EMU" --listen 127.0.0.1:0 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    EMU_PID=$!
    PIDS="$PIDS $EMU_PID"
    if ! wait_for 10 grep -q '"tunnel"' "$WORK/$name.out"; then
        not_ok "$name: otsync-emu printed its endpoints"
        cat "$WORK/$name.err"
        finish
        exit 1
    fi
    API=$(sed -n 's/.*"odps":"\([^"]*\)".*/\1/p' "$WORK/$name.out")
    TUNNEL=$(sed -n 's/.*"tunnel":"\([^"]*\)".*/\1/p' "$WORK/$name.out")
}
# stop_emu NAME: SIGTERM, wait, and check it went cleanly
stop_emu() {
    kill "$EMU_PID"
    wait "$EMU_PID"
    check_eq "$1: otsync-emu exits 0 on SIGTERM" 0 "$?"
    check "$1: no sanitizer report" lacks "Sanitizer" "$(cat "$WORK/$1.err")"
}
# cli ARGS...: the client against the running emulator; sets OUT (stdout and stderr) and RC
cli() {
    OUT=$(timeout 30 "$CLIENT" --api "$API" --tunnel "$TUNNEL" --project "$P" "$@" 2>&1)
    RC=$?
}
# dump TABLE [PARTITION-QUERY]: the committed rows
dump() {
    cli admin GET "dump?project=$P&table=$1${2:+&partition=$2}"
    echo "$OUT"
}
# rows TABLE START COUNT: the rows the client makes, without the {"rows":[...]} wrapper
rows() {
    cli --table "$1" --start "$2" --rows "$3" expect
    sed 's/^{"rows":\[//; s/\]}$//' <<<"$OUT"
}

start_emu emu1 --data "$WORK/data"

# --- tables through the admin call
cli admin POST tables '{"project": "emu_proj", "table": "events",
  "columns": [{"name": "id", "type": "bigint"}, {"name": "name", "type": "string"},
              {"name": "score", "type": "double"}, {"name": "ok", "type": "boolean"},
              {"name": "ts", "type": "datetime"}, {"name": "raw", "type": "binary"}],
  "partition_columns": [{"name": "pt", "type": "string"}, {"name": "hm", "type": "string"}]}'
check_eq "admin: create the partitioned table" 0 "$RC"
cli admin POST tables '{"project": "emu_proj", "table": "plain",
  "columns": [{"name": "id", "type": "bigint"}, {"name": "name", "type": "string"}]}'
check_eq "admin: create the plain table" 0 "$RC"
cli admin POST tables '{"project": "emu_proj", "table": "plain", "columns": []}'
check "admin: a second table of the same name is refused" has "HTTP 409" "$OUT"
cli admin POST tables '{"project": "emu_proj", "table": "bad",
  "columns": [{"name": "x", "type": "array<int>"}]}'
check "admin: an unsupported column type is refused" has "HTTP 400" "$OUT"

# --- the service API
cli --table events schema
check_eq "schema: read" 0 "$RC"
check "schema: the <Table> names the table" has "<Name>events</Name>" "$OUT"
check "schema: data columns in the JSON" has '{"name":"raw","type":"binary"' "$OUT"
check "schema: partition keys in the JSON" has '"partitionKeys":[{"name":"pt","type":"string"' \
    "$OUT"
cli --table nosuch schema
check "schema: unknown table is NoSuchObject in XML" has "<Code>NoSuchObject</Code>" "$OUT"
check "schema: ... with 404" has "HTTP 404" "$OUT"
cli tunnel-endpoint
check_eq "tunnel endpoint: host:port of the tunnel" "${TUNNEL#http://}" "$OUT"

# --- partitions through SQL instances
cli sql "alter table events add IF NOT EXISTS partition(pt='1',hm='0005');"
check_eq "sql: add partition" "Success" "$OUT"
cli --table events partitions
check_eq "partitions: listed in table order" "$PART" "$OUT"
cli sql "ALTER TABLE events ADD PARTITION (hm='0005', pt='1')"
check "sql: adding it again without IF NOT EXISTS fails" has "already exists" "$OUT"
check_eq "sql: ... and the client sees a failed task" 1 "$RC"
cli sql "alter table emu_proj.events add if not exists partition (pt='1', hm='0005');"
check_eq "sql: IF NOT EXISTS on an existing partition" "Success" "$OUT"
cli sql "select * from events;"
check "sql: other statements fail the task" has "Failed:" "$OUT"
cli sql "alter table nosuch add partition (pt='1');"
check "sql: unknown table" has "Table not found" "$OUT"
cli sql "alter table events add partition (pt='1');"
check "sql: a spec must name every level" has "1 of 2 partition levels" "$OUT"

# --- upload sessions: the errors before any data
cli --table events --partition pt=9,hm=0000 create
check "create: missing partition is NoSuchPartition" has '"Code":"NoSuchPartition"' "$OUT"
check "create: ... with 404" has "HTTP 404" "$OUT"
cli --table events create
check "create: partitioned table without partition" has '"Code":"MissingPartitionSpec"' "$OUT"
cli --table nosuch create
check "create: unknown table is NoSuchTable" has '"Code":"NoSuchTable"' "$OUT"

# --- committed rows and only those
cli --table events --partition "$PART" --rows 10 --blocks 3 upload
check_eq "upload: 10 rows in 3 blocks committed" 0 "$RC"
check "upload: the session is closed after commit" has "closed" "$OUT"
EXPECT="{\"rows\":[$(rows events 0 10)]}"
check_eq "dump: exactly the committed rows" "$EXPECT" "$(dump events "$PART_Q")"
check "dump: row 0 as JSON values" has '[0,"row-0",0.5,true,1704067200000,"Yi0w"]' "$EXPECT"
check "dump: row 6 has its null" has '[6,"row-6",null,true,1704067206000,"Yi02"]' "$EXPECT"

cli --table events --partition "$PART" --rows 5 --start 100 --no-commit upload
check_eq "uncommitted: blocks accepted" 0 "$RC"
ID=$OUT
cli --table events --partition "$PART" --upload "$ID" status
check "uncommitted: the session holds the block" has '"RecordCount":5' "$OUT"
check "uncommitted: and is still normal" has '"Status":"normal"' "$OUT"
check_eq "uncommitted: the table is unchanged" "$EXPECT" "$(dump events "$PART_Q")"

cli --table events --partition "$PART" --rows 6 --blocks 2 --start 200 --fail-block upload
check_eq "failed block: the client gives up" 1 "$RC"
check "failed block: CorruptedDataStream" has '"Code":"CorruptedDataStream"' "$OUT"
check "failed block: ... with 400" has "HTTP 400" "$OUT"
check_eq "failed block: the table is unchanged" "$EXPECT" "$(dump events "$PART_Q")"

# --- block by block: corrupt, re-upload, commit twice
cli --table events --partition "$PART" create
ID=$OUT
cli --table events --partition "$PART" --upload "$ID" --block-id 0 --rows 3 --start 300 \
    --corrupt put
check "corrupt block: refused with CorruptedDataStream" has '"Code":"CorruptedDataStream"' "$OUT"
cli --table events --partition "$PART" --upload "$ID" status
check "corrupt block: not kept" has '"UploadedBlockList":[]' "$OUT"
cli --table events --partition "$PART" --upload "$ID" --block-id 20000 --rows 1 put
check "block id 20000: InvalidBlockID" has '"Code":"InvalidBlockID"' "$OUT"
cli --table events --partition "$PART" --upload "$ID" --block-id 0 --rows 3 --start 300 put
cli --table events --partition "$PART" --upload "$ID" --block-id 1 --rows 1 --start 500 put
cli --table events --partition "$PART" --upload "$ID" --block-id 0 --rows 2 --start 400 put
check_eq "re-upload: block 0 again" 0 "$RC"
cli --table events --partition "$PART" --upload "$ID" status
check "re-upload: block 0 now holds 2 records" has '{"BlockID":0,' "$OUT"
check "re-upload: ... 2 of them" has '"RecordCount":2' "$OUT"
cli --table events --partition "$PART" --upload "$ID" commit
check_eq "re-upload: commit" "closed" "$OUT"
EXPECT="{\"rows\":[$(rows events 0 10),$(rows events 400 2),$(rows events 500 1)]}"
check_eq "re-upload: the last PUT of block 0 won, blocks in id order" "$EXPECT" \
    "$(dump events "$PART_Q")"
cli --table events --partition "$PART" --upload "$ID" commit
check "commit again: StatusConflict" has '"Code":"StatusConflict"' "$OUT"
check "commit again: ... with 409" has "HTTP 409" "$OUT"

cli --table events --partition "$PART" --rows 4 --start 600 --deflate upload
check_eq "deflate: upload committed" 0 "$RC"
EXPECT="{\"rows\":[$(rows events 0 10),$(rows events 400 2),$(rows events 500 1),"
EXPECT+="$(rows events 600 4)]}"
check_eq "deflate: rows added" "$EXPECT" "$(dump events "$PART_Q")"

# --- expiry (the admin call stands in for 24 hours)
cli --table events --partition "$PART" create
ID=$OUT
cli admin POST "expire?uploadid=$ID"
cli --table events --partition "$PART" --upload "$ID" --rows 1 put
check "expired session: StatusConflict" has '"Code":"StatusConflict"' "$OUT"
check "expired session: says expired" has "expired" "$OUT"

# --- signatures
cli --secret wrong --table events schema
check "wrong secret, service API: 401" has "HTTP 401" "$OUT"
check "wrong secret, service API: XML Unauthorized" has "<Code>Unauthorized</Code>" "$OUT"
cli --secret wrong --table events --partition "$PART" create
check "wrong secret, tunnel: 401" has "HTTP 401" "$OUT"
check "wrong secret, tunnel: JSON Unauthorized" has '"Code":"Unauthorized"' "$OUT"
cli --id someone-else --table events schema
check "unknown key id: 401" has "HTTP 401" "$OUT"
cli --date-offset 3600 --table events schema
check "Date an hour off: 401" has "HTTP 401" "$OUT"

# --- faults reach the tunnel's operations with the tunnel's error body
cli admin POST /_emu/faults '{"service": "tunnel", "op": "UploadBlock", "kind": "error",
  "count": 1, "status": 503, "code": "DataUnderReplication"}'
check_eq "fault: accepted" 0 "$RC"
cli --table events --partition "$PART" --rows 2 --start 700 upload
check "fault: the block PUT gets the injected error" has '"Code":"DataUnderReplication"' "$OUT"
check "fault: ... with 503" has "HTTP 503" "$OUT"
cli --table events --partition "$PART" --rows 2 --start 700 upload
check_eq "fault: spent after one request" 0 "$RC"

# --- the plain table and TRUNCATE
cli --table plain --rows 3 upload
check_eq "plain table: upload without partition" 0 "$RC"
check_eq "plain table: rows" "{\"rows\":[$(rows plain 0 3)]}" "$(dump plain)"
cli --table plain --partition pt=1 create
check "plain table: a partition is refused" has '"Code":"InvalidPartitionSpec"' "$OUT"
cli sql "truncate table plain;"
check_eq "truncate: Success" "Success" "$OUT"
check_eq "truncate: no rows" '{"rows":[]}' "$(dump plain)"

# --- restart with --data: tables, partitions and rows come back
EXPECT=$(dump events "$PART_Q")
stop_emu emu1
check "data: odps.json written" test -s "$WORK/data/odps.json"
start_emu emu2 --data "$WORK/data"
check_eq "data: rows back after restart" "$EXPECT" "$(dump events "$PART_Q")"
cli --table events partitions
check_eq "data: partitions back" "$PART" "$OUT"

# --- partitions directly (admin) and dropped through SQL under an open session
cli admin POST "partitions?project=$P&table=events&partition=pt%3D3%2Chm%3D0000"
check_eq "admin: add a partition" 0 "$RC"
cli admin GET "partitions?project=$P&table=events"
check "admin: partitions listed" has '"pt=3,hm=0000"' "$OUT"
cli admin DELETE "partitions?project=$P&table=events&partition=pt%3D3%2Chm%3D0000"
check_eq "admin: drop a partition" 0 "$RC"
cli --table events --partition pt=2,hm=0000 --create-partition create
check_eq "create_partition=true makes the partition" 0 "$RC"
ID=$OUT
cli --table events --partition pt=2,hm=0000 --upload "$ID" --rows 2 put
cli sql "alter table events drop if exists partition (pt='2', hm='0000');"
check_eq "sql: drop partition" "Success" "$OUT"
cli --table events --partition pt=2,hm=0000 --upload "$ID" commit
check "commit into a dropped partition: NoSuchPartition" has '"Code":"NoSuchPartition"' "$OUT"
cli sql "alter table events drop partition (pt='2', hm='0000');"
check "sql: dropping a missing partition without IF EXISTS fails" has "does not exist" "$OUT"
cli admin DELETE "tables?project=$P&table=plain"
check_eq "admin: drop a table" 0 "$RC"
cli --table plain schema
check "admin: the dropped table is gone" has "HTTP 404" "$OUT"
stop_emu emu2

# --- an STS token, when set, must come with every request
start_emu emu3 --sts-token sts-secret-token
cli admin POST tables '{"project": "emu_proj", "table": "t",
  "columns": [{"name": "id", "type": "bigint"}]}'
cli --table t schema
check "sts: without the token 401" has "HTTP 401" "$OUT"
cli --sts-token sts-secret-token --table t schema
check_eq "sts: with it" 0 "$RC"
stop_emu emu3

finish
