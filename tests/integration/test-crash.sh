#!/bin/bash
# The crash test: a simulated day (x2880: 30 s of real time) of a 5-minute self-dependent
# task, an hourly and a daily one, run once undisturbed and once with otsyncd killed -9 at
# random moments 50 times and restarted each time (its simulated clock continuing). The journal
# must always replay, no instance may be lost or run twice at once (each attempt holds an
# flock on its instance while it runs), and the final table of instances must equal the
# undisturbed run's. KILLS (50) and SPEED (2880) may be lowered for a quick look.
. "$(dirname "$0")/lib.sh"
CTL="$top_builddir/otsyncctl"
KILLS=${KILLS:-50}
SPEED=${SPEED:-2880}
T0=$(TZ=Asia/Shanghai date -d "2018-10-16 00:00:00" +%s)
END=$((T0 + 86400 + 600))      # 00:10 the next day: the last cycles have run

# the runner: take the instance's lock (held by the exec'd otsync-run until it dies), or
# record that another attempt of the same instance is still running
cat > "$WORK/runner" <<EOT
#!/bin/sh
exec 9>"\$LOCKS/\$OTSYNC_INSTANCE.lock"
flock -n 9 || echo "\$OTSYNC_INSTANCE" >> "\$LOCKS/DOUBLE"
exec "$OTSYNC_RUN" "\$@"
EOT
chmod +x "$WORK/runner"

setup() {   # setup DIR: a config and catalogue of its own
    mkdir -p "$1/tasks.d" "$1/locks"
    cat > "$1/otsyncd.yaml" <<EOT
state_dir: state
socket: state/otsyncd.sock
catalogue: tasks.d/*.yaml
timezone: Asia/Shanghai
max_running: 8
shutdown_grace: 2s
runner: $WORK/runner
EOT
    job() {
        cat <<EOT
    catchup: true
    params: {startTime: "\$[yyyymmddhh24miss-10/24/60]", endTime: "\$[yyyymmddhh24miss-5/24/60]"}
    job:
      type: job
      version: "2.0"
      configuration:
        reader: {plugin: stream, parameter: {delayMs: $1, sliceRecordCount: 1, column: [{type: string, value: "\${startTime}-\${endTime}"}]}}
        writer: {plugin: stream, parameter: {print: true}}
EOT
    }
    {
        echo "tasks:"
        echo "  - name: w5"
        echo "    schedule: {cycle: minute, interval: 5}"
        echo "    self_dependency: true"
        job 15
        echo "  - name: h1"
        echo "    schedule: {cycle: hour, interval: 1}"
        job 40
        echo "  - name: d1"
        echo "    schedule: {cycle: day, start: \"12:00\"}"
        job 60
    } > "$1/tasks.d/day.yaml"
}

# sim_now REAL0: the simulated time, REAL0 being when the clock started at T0
sim_now() { awk -v r0="$1" -v t0="$T0" -v sp="$SPEED" -v now="$(date +%s.%N)" \
    'BEGIN { printf "%d", t0 + (now - r0) * sp }'; }
iso() { TZ=Asia/Shanghai date -d "@$1" +%Y-%m-%dT%H:%M:%S; }

run_day() {     # run_day DIR KILLS
    local dir=$1 kills=$2 k=0 real0 pid t
    export LOCKS="$dir/locks"
    real0=$(date +%s.%N)
    t=$T0
    while :; do
        "$OTSYNCD" -c "$dir/otsyncd.yaml" --foreground --clock "$(iso "$t"),x$SPEED" \
            2>> "$dir/daemon.log" &
        pid=$!
        PIDS="$pid"
        if [ "$k" -lt "$kills" ]; then
            sleep "0.$(( (RANDOM % 7) + 2 ))"
            kill -9 "$pid"
            wait "$pid" 2>/dev/null
            k=$((k + 1))
            t=$(sim_now "$real0")
            [ "$t" -lt "$END" ] || t=$((END - 60))
            continue
        fi
        while [ "$(sim_now "$real0")" -lt "$END" ]; do sleep 0.5; done
        # a slow machine (sanitizers, a loaded CI) may still be running the last cycles:
        # wait until every instance of the day is final before stopping
        for _ in $(seq 1 120); do
            table "$dir" | grep -qvE '[[:space:]](success|failed|killed)$' || break
            sleep 1
        done
        kill -TERM "$pid"
        wait "$pid"
        PIDS=""
        return
    done
}

table() {   # table DIR: "id state" of every instance scheduled up to 00:00 the next day
    "$CTL" -c "$1/otsyncd.yaml" --json instances \
        | grep -o '"id": *"[^"]*"\|"state": *"[^"]*"' | cut -d'"' -f4 | paste - - \
        | awk '{ split($1, a, "@"); if (a[2] <= "20181017000000") print }' | sort
}

mkdir -p "$WORK/ref" "$WORK/crash"
setup "$WORK/ref"
setup "$WORK/crash"
run_day "$WORK/ref" 0
run_day "$WORK/crash" "$KILLS"

table "$WORK/ref" > "$WORK/ref.table"
table "$WORK/crash" > "$WORK/crash.table"
n=$(grep -c '^w5@' "$WORK/ref.table")
check_eq "undisturbed: 288 instances of the 5-minute task, 00:05 to 24:00" 288 "$n"
check_eq "undisturbed: every instance succeeded" 0 "$(grep -vc 'success$' "$WORK/ref.table")"
starts=$(grep -c 'otsyncd .* started:' "$WORK/crash/daemon.log")
check_eq "the daemon was started $((KILLS + 1)) times" $((KILLS + 1)) "$starts"
check_eq "every start replayed the journal" "$starts" \
    "$(grep -c 'journal .* replayed' "$WORK/crash/daemon.log")"
check_eq "no start failed on the journal" 0 "$(grep -c 'corrupt record' "$WORK/crash/daemon.log")"
echo "# torn tails cut: $(grep -c 'torn record' "$WORK/crash/daemon.log"), attempts interrupted: $(grep -c 'interrupted:' "$WORK/crash/daemon.log")"
check "no instance ran twice at once" test ! -s "$WORK/crash/locks/DOUBLE"
if diff "$WORK/ref.table" "$WORK/crash.table" > "$WORK/table.diff"; then
    ok "after $KILLS kills the table of instances equals the undisturbed one ($(wc -l < "$WORK/ref.table") instances)"
else
    not_ok "after $KILLS kills the table of instances equals the undisturbed one"
    head -n 20 "$WORK/table.diff"
fi
finish
