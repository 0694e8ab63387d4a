#!/bin/bash
# `otsyncd -t`: every mistake reported with file:line:col in one pass, exit 1; the shipped
# etc/ examples check clean (exit 0); usage errors exit 2.
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/tasks.d"
cat > "$WORK/otsyncd.yaml" <<EOT
state_dir: $WORK/state
catalogue: tasks.d/*.yaml
EOT
# three distinct mistakes: an unknown key, a bad time token, a placeholder no param defines
cat > "$WORK/tasks.d/bad.yaml" <<'EOT'
tasks:
  - name: gps_to_oss
    schedule: {cycle: minute, interval: 5}
    retires: 3
    job: {type: job, version: "1.0", configuration: {reader: {plugin: stream, parameter: {}}, writer: {plugin: stream, parameter: {}}}}
  - name: second
    schedule: {cycle: minute, interval: 5}
    params:
      endTime: $[yyyymmddhh-5/24/60]
    job:
      type: job
      configuration:
        reader: {plugin: stream, parameter: {column: [{type: string, value: "${startTime}"}]}}
        writer: {plugin: stream, parameter: {}}
EOT
out=$("$OTSYNCD" -t -c "$WORK/otsyncd.yaml" 2>&1); rc=$?
echo "$out"
check_eq "-t exits 1 on catalogue errors" 1 "$rc"
n=$(echo "$out" | grep -c "^$WORK/tasks.d/bad.yaml:[0-9]*:[0-9]*: error: ")
check_eq "-t reports all three mistakes with file:line:col" 3 "$n"
check "unknown key at 4:5" grep -q "bad.yaml:4:5: error: .*unknown key 'retires'" <<<"$out"
check "bad token at its column" grep -q "bad.yaml:9:16: error: .*unknown token 'hh'" <<<"$out"
check "undefined placeholder named" grep -q "bad.yaml:[0-9]*:[0-9]*: error: .*undefined parameter 'startTime'" <<<"$out"

# the datasources file is checked too: a bad type, and a secret file others can read
rm -f "$WORK/tasks.d/bad.yaml"
printf 'tasks: []\n' > "$WORK/tasks.d/empty.yaml"
printf 's3cr3t\n' > "$WORK/loose.secret"
chmod 644 "$WORK/loose.secret"
cat > "$WORK/datasources.yaml" <<EOT
datasources:
  a:
    type: s3
  b:
    type: ots
    endpoint: https://x.example
    instance: x
    access_key_id: AK
    access_key_secret_file: $WORK/loose.secret
EOT
out=$("$OTSYNCD" -t -c "$WORK/otsyncd.yaml" 2>&1); rc=$?
echo "$out"
check_eq "-t exits 1 on datasources errors" 1 "$rc"
check "datasources: bad type at 3:11" grep -q "datasources.yaml:3:11: error: datasource a.type" <<<"$out"
check "datasources: a loose secret file refused" grep -q "datasources.yaml:9:29: error: .*permissions 0644 are too open" <<<"$out"
check "datasources: the secret is not shown" lacks "s3cr3t" "$out"
rm -f "$WORK/datasources.yaml"

out=$("$OTSYNCD" -t -c "$top_srcdir/etc/channels/otsyncd.yaml" 2>&1); rc=$?
echo "$out"
check_eq "the five channels' examples (etc/channels, etc/jobs) check clean" 0 "$rc"
check "  ... all five tasks" grep -q "configuration OK: 5 tasks" <<<"$out"

out=$("$OTSYNCD" -t -c "$top_srcdir/etc/otsyncd.yaml" 2>&1); rc=$?
echo "$out"
check_eq "the etc/ examples check clean" 0 "$rc"

"$OTSYNCD" --no-such-flag >/dev/null 2>&1; rc=$?
check_eq "usage error exits 2" 2 "$rc"
"$OTSYNCD" --clock garbage -c "$top_srcdir/etc/otsyncd.yaml" --foreground >/dev/null 2>&1; rc=$?
check_eq "bad --clock exits 2" 2 "$rc"
v=$("$OTSYNCD" --version)
check "--version names the program" grep -q '^otsyncd [0-9]' <<<"$v"
"$OTSYNCD" --help | grep -q -- '--clock' && ok "--help lists the options" || not_ok "--help"
finish
