#!/bin/bash
# The `otsstream` reader against otsync-emu, checked by the official tablestore SDK
# (tests/conformance/stream-fixture.js changes the table and writes down the change log it
# expects). 288 consecutive short windows are read while puts, updates (put cells, delete one
# version, delete all) and deletes go on, and while one shard splits and its two children merge;
# three chains of windows read them, each with its own status table: the change log on one
# channel with sequence info, single_version_and_update_only on one channel, and the change
# log on two channels (fewer channels than shards after the split). The union of each chain's
# outputs equals what was written, exactly; every record lies in its window; rerunning middle
# windows reproduces their output byte for byte. Then the guards: a missing previous
# checkpoint fails naming the gap, a window too close to now and one older than the stream's
# retention are refused, and the three ways of giving a window are read alike.
. "$(dirname "$0")/lib.sh"
FIX="$top_srcdir/tests/conformance/stream-fixture.js"
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
fixture create data || { not_ok "the fixture table"; finish; exit 1; }
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
now_ms() { date +%s%3N; }
shards() { curl -s "$EMU_OTS/_emu/ots/shards?instance=inst&table=data"; }

# job FILE CHAIN START END [EXTRA]: a job reading [START, END) for a chain (a: change log with
# sequence info, one channel; b: single_version_and_update_only, one channel; c: change log,
# two channels)
job() {
    local conc=1 params
    case $2 in
    a) params='"isExportSequenceInfo": true' ;;
    b) params='"mode": "single_version_and_update_only", "column": ["s", "i", "d", "b", "bin"]' ;;
    c) params='"mode": "multi_version"'; conc=2 ;;
    esac
    cat > "$1" <<EOT
{"type": "job", "version": "1.0", "configuration": {
 "setting": {"speed": {"concurrent": $conc}},
 "reader": {"plugin": "otsstream", "parameter": {"datasource": "emu", "dataTable": "data",
            "statusTable": "status_$2", "startTimestampMillis": $3, "endTimestampMillis": $4,
            "endLagSeconds": 0, $params ${5:-}}},
 "writer": {"plugin": "stream", "parameter": {"fieldDelimiter": "\t"}}}}
EOT
}
# run JOB OUT: the records go to OUT.txt, the log to OUT.err, the exit status to OUT.rc
run() {
    timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" "$1" > "$2.out" 2> "$2.err"
    echo $? > "$2.rc"
    sed '$d' "$2.out" > "$2.txt"
}

# --- 288 windows of W ms, one after another, each read as soon as it is over
W=150
N=288
mkdir -p "$WORK/a" "$WORK/b" "$WORK/c" "$WORK/jobs"
T0=$(( $(now_ms) + 300 ))
fixture write data $((T0 + 2 * W)) $((T0 + (N - 8) * W)) "$WORK" 11 > "$WORK/writer.out" 2>&1 &
WRITER=$!
PIDS="$PIDS $WRITER"
: > "$WORK/windows"
for k in $(seq 0 $((N - 1))); do
    s=$((T0 + k * W))
    e=$((s + W))
    echo "$k $s $e" >> "$WORK/windows"
    # the stream changes shape while it is written and read
    if [ "$k" = 96 ]; then
        curl -s -X POST "$EMU_OTS/_emu/ots/split-shard?instance=inst&table=data&shard=shard-0001" \
            > "$WORK/split.out"
    elif [ "$k" = 192 ]; then
        curl -s -X POST \
            "$EMU_OTS/_emu/ots/merge-shards?instance=inst&table=data&a=shard-0002&b=shard-0003" \
            > "$WORK/merge.out"
    fi
    wait_ms=$((e - $(now_ms)))
    [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { print m / 1000 }')"
    rescan=""
    [ "$k" = 0 ] && rescan=', "allowRescan": true'
    runs=""
    for c in a b c; do
        job "$WORK/jobs/$c-$k.json" $c $s $e "$rescan"
        run "$WORK/jobs/$c-$k.json" "$WORK/$c/$k" &
        runs="$runs $!"
    done
    wait $runs
done
wait "$WRITER"
check "the writer with the official SDK finished" grep -q "cell changes" "$WORK/writer.out"
echo "# writer: $(cat "$WORK/writer.out")"
check_eq "the shard split" "split" "$(cat "$WORK/split.out")"
check_eq "the two children merged" "merged" "$(cat "$WORK/merge.out")"
check_eq "the stream has 4 shards, 3 of them closed" "4 3" \
    "$(shards | grep -o '"id":' | wc -l) $(shards | grep -o '"closed":true' | wc -l)"
for c in a b c; do
    failed=$(cat "$WORK/$c"/*.rc | grep -cvx 0)
    check_eq "chain $c: all $N windows exit 0" 0 "$failed"
done
check "chain c: a window after the merge reads 4 shards on 2 channels" \
    grep -q "4 shards" "$WORK/c/$((N - 1)).err"
check "chain a: the first window rescans from its start" \
    grep -q "allowRescan: reading every shard" "$WORK/a/0.err"
check "chain a: later windows resume from the checkpoints" \
    grep -q "resuming from the checkpoints" "$WORK/a/200.err"

# every record of chain a lies in its window, by its sequence timestamp (µs)
outside=$(while read -r k s e; do
    awk -F'\t' -v s="$s" -v e="$e" '{ split($7, q, ":"); t = q[2] / 1000;
        if (t < s || t >= e) n++ } END { print n + 0 }' "$WORK/a/$k.txt"
done < "$WORK/windows" | paste -sd+ | bc)
check_eq "chain a: every record's sequence time lies in its window" 0 "$outside"
busy=$(for k in $(seq 0 $((N - 1))); do [ -s "$WORK/a/$k.txt" ] && echo x; done | wc -l)
check "chain a: the changes spread over many windows ($busy)" test "$busy" -gt 200

LC_ALL=C sort "$WORK/changes.txt" > "$WORK/changes.sorted"
LC_ALL=C sort "$WORK/single.txt" > "$WORK/single.sorted"
check "the fixture made changes of every kind" \
    test "$(cut -f6 "$WORK/changes.sorted" | sort -u | paste -sd,)" = "DA,DO,DR,U"
for k in $(seq 0 $((N - 1))); do cat "$WORK/a/$k.txt"; done | cut -f1-6 | LC_ALL=C sort \
    > "$WORK/a.union"
check "change log, 1 channel: the union of the windows equals the change log exactly" \
    cmp "$WORK/changes.sorted" "$WORK/a.union"
for k in $(seq 0 $((N - 1))); do cat "$WORK/b/$k.txt"; done | LC_ALL=C sort > "$WORK/b.union"
check "single_version_and_update_only: the union equals the puts and updates exactly" \
    cmp "$WORK/single.sorted" "$WORK/b.union"
for k in $(seq 0 $((N - 1))); do cat "$WORK/c/$k.txt"; done | LC_ALL=C sort > "$WORK/c.union"
check "change log, 2 channels: the union of the windows equals the change log exactly" \
    cmp "$WORK/changes.sorted" "$WORK/c.union"

# --- reruns: a middle window (its checkpoints deleted first), then the next one
for k in 144 145; do
    for c in a b; do
        run "$WORK/jobs/$c-$k.json" "$WORK/$c/rerun-$k"
        check_eq "chain $c: rerun of window $k: exit 0" 0 "$(cat "$WORK/$c/rerun-$k.rc")"
        check "chain $c: rerun of window $k: the same output byte for byte ($(wc -l < \
            "$WORK/$c/$k.txt") records)" cmp "$WORK/$c/$k.txt" "$WORK/$c/rerun-$k.txt"
    done
done
# a chain of its own started at window 144 by a rescan reads what chain b read there; a column
# list naming a key column is the whole record
keycols='"column": [{"name": "k2"}, "s"], "allowRescan": true'
sed "s/\"status_b\"/\"status_key\"/; s/\"column\": \\[[^]]*\\]/$keycols/" \
    "$WORK/jobs/b-144.json" > "$WORK/jobs/key.json"
run "$WORK/jobs/key.json" "$WORK/key"
check_eq "single_version with key columns in column: exit 0" 0 "$(cat "$WORK/key.rc")"
check "  ... a rescan from window 144's start gives its records, the columns as listed" \
    cmp <(cut -f2,3 "$WORK/b/144.txt") "$WORK/key.txt"
check "a rerun deletes the window's own checkpoints first" \
    grep -q "deleted the .* checkpoint rows an earlier run of this window wrote" \
    "$WORK/a/rerun-144.err"
check "window 144 had records to compare" test -s "$WORK/a/144.txt"

# --- guards
last_end=$((T0 + N * W))
job "$WORK/jobs/gap.json" a $((last_end + 1000)) $((last_end + 1100))
run "$WORK/jobs/gap.json" "$WORK/gap"
check_eq "a window whose start has no checkpoint: exit 1" 1 "$(cat "$WORK/gap.rc")"
check "  ... names the gap from the last checkpoint to its start" \
    grep -q "the gap \[.*($last_end), .*($((last_end + 1000))))" "$WORK/gap.err"
check_eq "  ... reads nothing" 0 "$(wc -c < "$WORK/gap.txt")"
job "$WORK/jobs/gap2.json" a $((last_end + 1000)) $((last_end + 1100)) ', "allowRescan": true'
run "$WORK/jobs/gap2.json" "$WORK/gap2"
check_eq "  ... with allowRescan it reads from the start time instead" 0 "$(cat "$WORK/gap2.rc")"

now=$(now_ms)
job "$WORK/jobs/lag0.json" a $((now - 120000)) $((now - 60000))
sed 's/"endLagSeconds": 0/"endLagSeconds": 300/' "$WORK/jobs/lag0.json" > "$WORK/jobs/lag.json"
run "$WORK/jobs/lag.json" "$WORK/lag"
check_eq "a window ending after now - 5 min: exit 1" 1 "$(cat "$WORK/lag.rc")"
check "  ... refused before reading" grep -q "is later than now .* less endLagSeconds (300)" \
    "$WORK/lag.err"
sed 's/"endLagSeconds": 0, //' "$WORK/jobs/lag0.json" > "$WORK/jobs/lag-default.json"
run "$WORK/jobs/lag-default.json" "$WORK/lag-default"
check "  ... 5 minutes is the default lag" \
    grep -q "less endLagSeconds (300)" "$WORK/lag-default.err"

# the window's three forms, read in the local time zone; 2018 is long out of retention
export TZ=Asia/Shanghai
old="2018-10-16 00:00:00.000 (1539619200000)"
job "$WORK/jobs/old1.json" a 20181016000000 20181016000500
run "$WORK/jobs/old1.json" "$WORK/old1"
check_eq "a window older than the stream's 24 h: exit 1" 1 "$(cat "$WORK/old1.rc")"
check "  ... says so; a 14-digit *Millis is read as yyyymmddhh24miss" \
    grep -qF "the window's start $old lies before what the stream keeps (24 h)" "$WORK/old1.err"
millis='"startTimestampMillis": 20181016000000, "endTimestampMillis": 20181016000500'
sed "s/$millis/\"startTimeString\": \"20181016000000\", \"endTimeString\": \"20181016000500\"/" \
    "$WORK/jobs/old1.json" > "$WORK/jobs/old2.json"
run "$WORK/jobs/old2.json" "$WORK/old2"
check "startTimeString/endTimeString: the same start" grep -qF "start $old lies" "$WORK/old2.err"
sed "s/$millis/\"date\": \"20181016\"/" \
    "$WORK/jobs/old1.json" > "$WORK/jobs/old3.json"
run "$WORK/jobs/old3.json" "$WORK/old3"
check "date: the day from local midnight" grep -qF "start $old lies" "$WORK/old3.err"
sed 's/"endTimestampMillis": 20181016000500/"date": "20181016"/' "$WORK/jobs/old1.json" \
    > "$WORK/jobs/both.json"
run "$WORK/jobs/both.json" "$WORK/both"
check_eq "two forms of the window at once: exit 2" 2 "$(cat "$WORK/both.rc")"
check "  ... says which" grep -q "give the window once" "$WORK/both.out" "$WORK/both.err"
sed 's/"startTimestampMillis": 20181016000000/"startTimestampMillis": 20181332000000/' \
    "$WORK/jobs/old1.json" > "$WORK/jobs/baddate.json"
run "$WORK/jobs/baddate.json" "$WORK/baddate"
check_eq "a 14-digit value that is no date: exit 2" 2 "$(cat "$WORK/baddate.rc")"
sed 's/"dataTable": "data"/"dataTable": "nosuch"/' "$WORK/jobs/a-0.json" > "$WORK/jobs/notable.json"
run "$WORK/jobs/notable.json" "$WORK/notable"
check_eq "a missing data table: exit 1" 1 "$(cat "$WORK/notable.rc")"
check "  ... OTSObjectNotExist" grep -q "OTSObjectNotExist" "$WORK/notable.out" "$WORK/notable.err"
finish
