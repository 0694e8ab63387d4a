#!/bin/bash
# --test-datasource against otsync-emu: each type answers "ok" when the instance, bucket or
# project is there and the key is right, and says plainly when the key is wrong or the thing
# named does not exist; the secret never appears in what is printed.
. "$(dirname "$0")/lib.sh"
start_emu || exit 1
curl -s -X POST "$EMU_OTS/_emu/ots/instances?name=inst" > /dev/null
curl -s -X POST "$EMU_OSS/_emu/oss/buckets?name=exports" > /dev/null
curl -s -X POST "$EMU_ODPS/../_emu/odps/projects?project=warehouse" > /dev/null

printf 'otsync-emu-secret\n' > "$WORK/good.secret"
printf 'not-the-secret\n' > "$WORK/bad.secret"
chmod 600 "$WORK/good.secret" "$WORK/bad.secret"
# entry NAME TYPE ENDPOINT WHAT-KEY WHAT SECRET-FILE
entry() {
    printf '  %s:\n    type: %s\n    endpoint: %s\n    %s: %s\n    access_key_id: otsync-emu-id\n    access_key_secret_file: %s\n' "$@"
}
{
    echo "datasources:"
    entry ots_ok ots "$EMU_OTS" instance inst "$WORK/good.secret"
    entry ots_badkey ots "$EMU_OTS" instance inst "$WORK/bad.secret"
    entry ots_noinst ots "$EMU_OTS" instance nosuch "$WORK/good.secret"
    entry oss_ok oss "$EMU_OSS" bucket exports "$WORK/good.secret"
    entry oss_badkey oss "$EMU_OSS" bucket exports "$WORK/bad.secret"
    entry oss_nobucket oss "$EMU_OSS" bucket nosuch "$WORK/good.secret"
    entry odps_ok odps "$EMU_ODPS" project warehouse "$WORK/good.secret"
    entry odps_badkey odps "$EMU_ODPS" project warehouse "$WORK/bad.secret"
    entry odps_noproject odps "$EMU_ODPS" project nosuch "$WORK/good.secret"
} > "$WORK/ds.yaml"
chmod 600 "$WORK/ds.yaml"

probe() {
    OUT=$(timeout 60 "$OTSYNC_RUN" -d "$WORK/ds.yaml" --test-datasource "$1")
    RC=$?
}
for t in ots oss odps; do
    probe ${t}_ok
    check_eq "$t: the right key: exit 0" 0 "$RC"
    check "$t: says ok" has "ok: ${t}_ok ($t) answers at" "$OUT"
    probe ${t}_badkey
    check_eq "$t: a wrong secret: exit 1" 1 "$RC"
    check "$t: a wrong secret: authentication refused" has "failed: ${t}_badkey: authentication refused" "$OUT"
    check "$t: the secret is not printed" lacks "not-the-secret" "$OUT"
done
probe ots_noinst
check "ots: a missing instance is named" has "nosuch" "$OUT"
check_eq "ots: a missing instance: exit 1" 1 "$RC"
probe oss_nobucket
check "oss: a missing bucket: says it does not exist" has "bucket nosuch does not exist" "$OUT"
probe odps_noproject
check "odps: a missing project: says it does not exist" has "project nosuch does not exist" "$OUT"
finish
