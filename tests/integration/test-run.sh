#!/bin/bash
# otsync-run with the stream plugins: the three job forms, the summary line, configuration
# errors (exit 2, JSON paths, line:col), the failure switches the scheduler's tests rely on
# (fail, failOnAttempts, failIfExists, delayMs), and rendering with -p/--cyctime.
. "$(dirname "$0")/lib.sh"
export TZ=Asia/Shanghai
unset OTSYNC_ATTEMPT

# run INPUT ARGS...: runs otsync-run with INPUT on stdin; sets RC, LAST (the last stdout
# line), BODY (the stdout lines before it) and ERR (stderr).
run() {
    local in=$1; shift
    timeout 30 "$OTSYNC_RUN" "$@" < "$in" > "$WORK/out" 2> "$WORK/err"
    RC=$?
    LAST=$(tail -n 1 "$WORK/out")
    BODY=$(sed '$d' "$WORK/out")
    ERR=$(cat "$WORK/err")
}
# field NAME: a number or plain string field of the summary line
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$LAST"; }
SUMMARY_RE='^\{"status":"(success|failed)","exit_code":[0-9]+,"records_read":[0-9]+,'
SUMMARY_RE+='"records_written":[0-9]+,"records_dirty":[0-9]+,"bytes":[0-9]+,"elapsed_ms":[0-9]+'
SUMMARY_RE+=',"rows_per_s":[0-9]+,"mb_per_s":[0-9.]+(,"dirty_file":"[^"]+")?(,"error":".+")?\}$'
summary_ok() { grep -Eq "$SUMMARY_RE" <<<"$LAST"; }

# v1 JOB-FILE READER-PARAMS WRITER-PARAMS [SETTING]: a DataWorks v1 job with stream plugins
v1() {
    cat > "$1" <<EOT
{"type": "job", "version": "1.0",
 "configuration": {
  "setting": {${4:-}},
  "reader": {"plugin": "stream", "parameter": {$2}},
  "writer": {"plugin": "stream", "parameter": {$3}}}}
EOT
}
COLS='"column": [{"type": "string", "value": "hello"}, {"type": "long", "value": "42"},
  {"type": "double", "value": 0.1}, {"type": "bool", "value": true},
  {"type": "date", "value": "2018-10-16 00:05:00"}, {"type": "bytes", "value": "raw"},
  {"type": "string", "value": null},
  {"type": "date", "value": "16/10/2018 01.02.03", "dateFormat": "dd/MM/yyyy HH.mm.ss"}]'
EXPECTED=$(printf 'hello,42,0.1,true,2018-10-16 00:05:00,raw,null,2018-10-16 01:02:03\n%.0s' 1 2 3)

# --- the three job forms print the same records
v1 "$WORK/v1.json" "\"sliceRecordCount\": \"3\", $COLS" '"print": true, "fieldDelimiter": ","' \
    '"errorLimit": {"record": "0"}, "speed": {"concurrent": "1", "mbps": "1"}'
cat > "$WORK/v2.json" <<EOT
{"type": "job", "version": "2.0",
 "steps": [
  {"stepType": "stream", "name": "Reader", "category": "reader",
   "parameter": {"sliceRecordCount": 3, $COLS}},
  {"stepType": "stream", "name": "Writer", "category": "writer",
   "parameter": {"fieldDelimiter": ","}}],
 "setting": {"errorLimit": {"record": 0}, "speed": {"throttle": false, "concurrent": 1}},
 "order": {"hops": [{"from": "Reader", "to": "Writer"}]}}
EOT
cat > "$WORK/datax.json" <<EOT
{"job": {"setting": {"speed": {"channel": 1}},
 "content": [{"reader": {"name": "streamreader", "parameter": {"sliceRecordCount": 3, $COLS}},
              "writer": {"name": "streamwriter", "parameter": {"print": true,
                                                               "fieldDelimiter": ","}}}]}}
EOT
for form in v1 v2 datax; do
    run "$WORK/$form.json"
    check_eq "$form: exit 0" 0 "$RC"
    check_eq "$form: the records, one line each" "$EXPECTED" "$BODY"
    check "$form: the last stdout line is the summary" summary_ok
done
run /dev/null "$WORK/v1.json"
check_eq "job as a file argument: same records" "$EXPECTED" "$BODY"

# --- the summary line and the log
run "$WORK/v1.json" -
check_eq "summary: status" success "$(field status)"
check_eq "summary: exit_code" 0 "$(field exit_code)"
check_eq "summary: records_read" 3 "$(field records_read)"
check_eq "summary: records_written" 3 "$(field records_written)"
check_eq "summary: records_dirty" 0 "$(field records_dirty)"
check "summary: bytes counted" test "$(field bytes)" -gt 0
check "summary: no error on success" lacks '"error"' "$LAST"
check "log: job started" has "job started: reader stream, writer stream, 1 channel" "$ERR"
check "log: job finished with counts" has "job finished: 3 records read, 3 written, 0 dirty" "$ERR"

# --- numbers as strings, channels, print false
v1 "$WORK/chan.json" '"sliceRecordCount": "4", "column": [{"type": "long", "value": 1}]' \
    '"print": "false"' '"speed": {"concurrent": "2"}'
run "$WORK/chan.json"
check_eq "concurrent 2: each channel reads sliceRecordCount (DataX)" 8 "$(field records_read)"
check_eq "print false: nothing printed" "" "$BODY"
check "log: 2 channels" has "2 channels" "$ERR"

# --- configuration errors: exit 2, the JSON path, the summary line all the same
v1 "$WORK/type.json" '"sliceRecordCount": "abc", "column": [{"type": "long", "value": 1}]' ''
run "$WORK/type.json"
check_eq "wrong type: exit 2" 2 "$RC"
check "wrong type: summary line printed" summary_ok
check_eq "wrong type: summary exit_code" 2 "$(field exit_code)"
check "wrong type: message names the JSON path" has \
    'configuration.reader.parameter.sliceRecordCount: expected an integer, got \"abc\"' "$LAST"
check "wrong type: stderr says it too" has \
    'configuration.reader.parameter.sliceRecordCount: expected an integer, got "abc"' "$ERR"
check_eq "wrong type: nothing ran" "" "$BODY"

v1 "$WORK/unknown.json" '"sliceRecordCont": 3, "column": [{"type": "long", "value": 1}]' \
    '"prnt": true'
run "$WORK/unknown.json"
check_eq "unknown parameter: exit 2" 2 "$RC"
check "unknown parameter: reader's named" has \
    "configuration.reader.parameter.sliceRecordCont: unknown parameter" "$LAST"
check "unknown parameter: every error reported" has \
    "configuration.writer.parameter.prnt: unknown parameter" "$ERR"

sed 's/"sliceRecordCount": 3/"sliceRecordCount": [3]/' "$WORK/v2.json" > "$WORK/v2bad.json"
run "$WORK/v2bad.json"
check "v2 paths name the step" has \
    "steps[0].parameter.sliceRecordCount: expected an integer" "$LAST"

v1 "$WORK/col.json" '"column": [{"type": "long", "value": 1}, {"type": "lng", "value": 2}]' ''
run "$WORK/col.json"
check_eq "bad column type: exit 2" 2 "$RC"
check "bad column type: path to the item" has \
    "configuration.reader.parameter.column[1].type: unknown type 'lng'" "$LAST"

v1 "$WORK/enc.json" '"column": [{"type": "long", "value": 1}]' '"encoding": "GBK"'
run "$WORK/enc.json"
check "encoding other than UTF-8 is an error naming it" has \
    'configuration.writer.parameter.encoding: only UTF-8 is supported' "$LAST"

v1 "$WORK/setting.json" '"column": [{"type": "long", "value": 1}]' '' \
    '"errorLimit": {"percentage": 2}, "speed": {"concurrent": "x"}'
run "$WORK/setting.json"
check_eq "bad settings: exit 2" 2 "$RC"
check "bad setting type named" has \
    'configuration.setting.speed.concurrent: expected an integer' "$ERR"
check "bad setting range named" has 'configuration.setting.errorLimit.percentage: must be' "$ERR"

printf '{"type": "job",\n  "version": "1.0",\n  "configuration": {,}}\n' > "$WORK/malformed.json"
run /dev/null "$WORK/malformed.json"
check_eq "malformed JSON: exit 2" 2 "$RC"
check "malformed JSON: line:col" has "malformed.json:3:21: malformed JSON" "$LAST"
check "malformed JSON: summary line printed" summary_ok

run /dev/null "$WORK/no-such-job.json"
check_eq "unreadable job: exit 2" 2 "$RC"
check "unreadable job: says so" has "no-such-job.json: cannot open the job" "$LAST"

# named READER WRITER: a v1 job naming these plugins, parameters empty
named() {
    printf '{"type": "job", "version": "1.0", "configuration": {%s, %s}}\n' \
        "\"reader\": {\"plugin\": \"$1\", \"parameter\": {}}" \
        "\"writer\": {\"plugin\": \"$2\", \"parameter\": {}}"
}
named ots stream > "$WORK/ots.json"
run "$WORK/ots.json"
check_eq "a plugin without its required parameters: exit 2" 2 "$RC"
check "a plugin without its required parameters: each named" has \
    "configuration.reader.parameter.table: required parameter missing" "$ERR"
named stream hdfswriter > "$WORK/hdfs.json"
run "$WORK/hdfs.json"
check "unknown plugin: named with the known ones" has \
    "unknown writer plugin 'hdfswriter' (writers: stream, ots, oss, odps)" "$ERR"

# --- deliberate failures: exit 1, the records still produced, a clear message
v1 "$WORK/fail.json" \
    '"fail": true, "sliceRecordCount": 2, "column": [{"type": "long", "value": 7}]' ''
run "$WORK/fail.json"
check_eq "fail: exit 1" 1 "$RC"
check_eq "fail: summary status" failed "$(field status)"
check_eq "fail: records produced first" "$(printf '7\n7')" "$BODY"
check "fail: the error says why" has "as the job asks (fail: true)" "$LAST"

v1 "$WORK/attempts.json" '"failOnAttempts": 2, "column": [{"type": "long", "value": 7}]' ''
run "$WORK/attempts.json"
check_eq "failOnAttempts 2, OTSYNC_ATTEMPT unset (1): exit 1" 1 "$RC"
OTSYNC_ATTEMPT=1 run "$WORK/attempts.json"
check_eq "failOnAttempts 2, OTSYNC_ATTEMPT=1: exit 1" 1 "$RC"
check "failOnAttempts: message" has "failing attempt 1, as the job asks (failOnAttempts: 2)" "$LAST"
OTSYNC_ATTEMPT=3 run "$WORK/attempts.json"
check_eq "failOnAttempts 2, OTSYNC_ATTEMPT=3: exit 0" 0 "$RC"
check_eq "failOnAttempts 2, OTSYNC_ATTEMPT=3: success" success "$(field status)"
OTSYNC_ATTEMPT=zero run "$WORK/attempts.json"
check_eq "a malformed OTSYNC_ATTEMPT is a configuration error" 2 "$RC"

v1 "$WORK/exists.json" \
    "\"failIfExists\": \"$WORK/flag\", \"column\": [{\"type\": \"long\", \"value\": 7}]" ''
touch "$WORK/flag"
run "$WORK/exists.json"
check_eq "failIfExists, file present: exit 1" 1 "$RC"
check "failIfExists: message names the file" has "'$WORK/flag' exists" "$LAST"
rm "$WORK/flag"
run "$WORK/exists.json"
check_eq "failIfExists, file gone: exit 0" 0 "$RC"

v1 "$WORK/delay.json" '"delayMs": 400, "column": [{"type": "long", "value": 7}]' ''
run "$WORK/delay.json"
check_eq "delayMs: exit 0" 0 "$RC"
check "delayMs: the job lasted at least the delay" test "$(field elapsed_ms)" -ge 400

v1 "$WORK/mbps.json" '"sliceRecordCount": 65536, "column": [{"type": "long", "value": 7}]' \
    '"print": false' '"speed": {"mbps": 1}'
run "$WORK/mbps.json"
check_eq "mbps: exit 0" 0 "$RC"
check "mbps 1: half a MiB takes about half a second" test "$(field elapsed_ms)" -ge 400

# --- the engine: channels side by side, errorLimit, the dirty file, the record rate
v1 "$WORK/chan.json" '"sliceRecordCount": 5000, "delayMs": 300,
    "column": [{"type": "long", "value": 7}]' '"print": false' '"speed": {"concurrent": 4}'
run "$WORK/chan.json"
check_eq "4 channels: exit 0" 0 "$RC"
check_eq "4 channels: every slice read" 20000 "$(field records_read)"
check "4 channels: logged" has "4 channels, 4 slices" "$ERR"
# four slices that each wait 300 ms before ending run side by side, not one after another
check "4 channels: slices ran side by side" test "$(field elapsed_ms)" -lt 1100

v1 "$WORK/dirty.json" '"sliceRecordCount": 1000, "column": [{"type": "string", "value": "v"},
    {"type": "long", "value": 5}]' '"print": false, "dirtyEvery": 10' \
    '"errorLimit": {"record": 100}'
run "$WORK/dirty.json" --dirty-file "$WORK/d1.jsonl"
check_eq "errorLimit.record 100, 100 dirty: exit 0" 0 "$RC"
check_eq "dirty records counted" 100 "$(field records_dirty)"
check_eq "the rest written" 900 "$(field records_written)"
check_eq "the summary names the dirty file" "$WORK/d1.jsonl" "$(field dirty_file)"
check "the log names the dirty file" has "dirty records are written to $WORK/d1.jsonl" "$ERR"
check_eq "one line per dirty record" 100 "$(wc -l < "$WORK/d1.jsonl")"
check "a dirty line: reason and record" grep -q \
    '"side":"writer","plugin":"stream","reason":"stream writer: record 10 rejected, as the job asks (dirtyEvery: 10)","record":\["v",5\]' \
    "$WORK/d1.jsonl"
check_eq "the dirty file is private" 600 "$(stat -c %a "$WORK/d1.jsonl")"
v1 "$WORK/dirty99.json" '"sliceRecordCount": 1000, "column": [{"type": "long", "value": 5}]' \
    '"print": false, "dirtyEvery": 10' '"errorLimit": {"record": 99}'
run "$WORK/dirty99.json" --dirty-file "$WORK/d2.jsonl"
check_eq "errorLimit.record 99, 100 dirty: exit 1" 1 "$RC"
check "errorLimit.record: says why" has "100 dirty records, more than setting.errorLimit.record allows (99)" "$LAST"
v1 "$WORK/pct.json" '"sliceRecordCount": 1000, "column": [{"type": "long", "value": 5}]' \
    '"print": false, "dirtyEvery": 10' '"errorLimit": {"percentage": 0.05}'
run "$WORK/pct.json" --dirty-file "$WORK/d3.jsonl"
check_eq "errorLimit.percentage 0.05, 10 % dirty: exit 1" 1 "$RC"
check "errorLimit.percentage: says why" has "100 dirty of 1000 records read, more than setting.errorLimit.percentage allows (0.05)" "$LAST"
v1 "$WORK/pct2.json" '"sliceRecordCount": 1000, "column": [{"type": "long", "value": 5}]' \
    '"print": false, "dirtyEvery": 10' '"errorLimit": {"percentage": 0.2}'
run "$WORK/pct2.json" --dirty-file "$WORK/d4.jsonl"
check_eq "errorLimit.percentage 0.2, 10 % dirty: exit 0" 0 "$RC"
v1 "$WORK/both.json" '"sliceRecordCount": 1000, "column": [{"type": "long", "value": 5}]' \
    '"print": false, "dirtyEvery": 10' '"errorLimit": {"record": 200, "percentage": 0.01}'
run "$WORK/both.json" --dirty-file "$WORK/d5.jsonl"
check_eq "record and percentage both given: the record limit wins" 0 "$RC"
OTSYNC_DIRTY_FILE="$WORK/d6.jsonl" OTSYNC_INSTANCE=t.20261130000500 OTSYNC_ATTEMPT=3 \
    run "$WORK/dirty.json"
check "OTSYNC_DIRTY_FILE (the daemon's choice) is used, lines name the attempt" grep -q \
    '"instance":"t.20261130000500","attempt":3' "$WORK/d6.jsonl"
run "$WORK/v1.json" --dirty-file "$WORK/d7.jsonl"
check "a clean run leaves no dirty file" test ! -e "$WORK/d7.jsonl"
v1 "$WORK/rate.json" '"sliceRecordCount": 3000, "column": [{"type": "long", "value": 7}]' \
    '"print": false' '"speed": {"record": 5000}'
run "$WORK/rate.json"
check_eq "speed.record: exit 0" 0 "$RC"
# 3000 records at 5000/s: the batches after the first wait for the rest of the allowance
check "speed.record 5000: 3000 records take at least 0.35 s" test "$(field elapsed_ms)" -ge 350

# --- --test-datasource: what failed, said plainly (the emulator tests cover auth and success)
cat > "$WORK/ds.yaml" <<EOT
datasources:
  closed:
    type: oss
    endpoint: http://127.0.0.1:1
    bucket: b
    access_key_id: AK
    access_key_secret: not-shown-anywhere
EOT
chmod 600 "$WORK/ds.yaml"
out=$(timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" --test-datasource closed); rc=$?
check_eq "test-datasource, nothing listening: exit 1" 1 "$rc"
check "test-datasource, nothing listening: says so" has "failed: closed: http://127.0.0.1:1: nothing accepts connections there" "$out"
check "test-datasource: the secret is not shown" lacks "not-shown-anywhere" "$out"
out=$("$OTSYNC_RUN" -d "$WORK/ds.yaml" --test-datasource nope); rc=$?
check_eq "test-datasource, unknown name: exit 2" 2 "$rc"
check "test-datasource, unknown name: says so" has "no datasource named nope in $WORK/ds.yaml" "$out"
printf 'state_dir: %s/st\ndatasources: ds.yaml\nrunner: %s\n' "$WORK" "$OTSYNC_RUN" > "$WORK/ctl.yaml"
out=$(timeout 60 "$top_builddir/otsyncctl" -c "$WORK/ctl.yaml" test-datasource closed); rc=$?
check_eq "otsyncctl test-datasource runs the same check: exit 1" 1 "$rc"
check "otsyncctl test-datasource: says what failed" has "nothing accepts connections there" "$out"
chmod 644 "$WORK/ds.yaml"
out=$("$OTSYNC_RUN" -d "$WORK/ds.yaml" --test-datasource closed 2>&1); rc=$?
check_eq "an inline secret in a world-readable datasources file: exit 2" 2 "$rc"
check "  ... says why, with file:line:col" has "ds.yaml:7:24: error: datasource closed.access_key_secret" "$out"

timeout 30 "$OTSYNC_RUN" "$WORK/v1.json" > /dev/full 2> "$WORK/err"; rc=$?
check_eq "stdout that cannot be written: exit 1" 1 "$rc"
check "stdout that cannot be written: logged" grep -q "writing to standard output" "$WORK/err"

# --- rendering with -p / --cyctime
v1 "$WORK/vars.json" \
    '"column": [{"type": "string", "value": "${bdp.system.bizdate}"},
                {"type": "string", "value": "${startTime}"},
                {"type": "string", "value": "${endTime}"}]' \
    '"fieldDelimiter": " "'
run "$WORK/vars.json" --cyctime 20181016000500 -p startTime=20181015235500 \
    -p 'endTime=$[yyyymmddhh24miss-5/24/60]'
check_eq "rendering: exit 0" 0 "$RC"
check_eq "rendering: bizdate, a literal param and a time-expression param" \
    "20181015 20181015235500 20181016000000" "$BODY"
v1 "$WORK/bizdate.json" '"column": [{"type": "string", "value": "${bdp.system.bizdate}"}]' ''
run "$WORK/bizdate.json" --cyctime 20181016000500
check_eq "--cyctime alone renders bizdate" 20181015 "$BODY"
run "$WORK/bizdate.json"
check_eq "without -p/--cyctime the job is used as it is" '${bdp.system.bizdate}' "$BODY"
run "$WORK/vars.json" --cyctime 20181016000500
check_eq "an undefined parameter: exit 2" 2 "$RC"
check "an undefined parameter: path named" has \
    "configuration.reader.parameter.column[1].value" "$LAST"
run "$WORK/bizdate.json" --cyctime yesterday
check_eq "a bad --cyctime: exit 2" 2 "$RC"
run "$top_srcdir/etc/jobs/stream-example.json" --cyctime 20181016000500 \
    -p 'startTime=$[yyyymmddhh24miss-10/24/60]' -p 'endTime=$[yyyymmddhh24miss-5/24/60]'
window=$(printf '20181015,20181015235500,20181016000000\n%.0s' 1 2 3)
check_eq "the shipped example job runs" "$window" "$BODY"

# --- options
v=$("$OTSYNC_RUN" --version)
check "--version names the program" grep -q '^otsync-run [0-9]' <<<"$v"
"$OTSYNC_RUN" --help | grep -q -- '--cyctime' && ok "--help lists the options" || not_ok "--help"
run /dev/null --no-such-option
check_eq "usage error: exit 2" 2 "$RC"
check "usage error: summary line printed" summary_ok
finish
