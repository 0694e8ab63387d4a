#!/bin/bash
# The systemd unit: systemd-analyze verify accepts it (with the programs of this build in
# place of the installed ones), and it asks for what otsyncd(8) promises. Skipped (77) on a
# machine without systemd-analyze.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null 2>&1 || { echo "no systemd-analyze: skipped"; exit 77; }
unit="$top_builddir/systemd/otsyncd.service"
check "the unit was generated" test -f "$unit"
sed -e "s|^\(Exec[A-Za-z]*=\)[^ ]*/otsyncd |\1$top_builddir/otsyncd |" "$unit" > "$WORK/otsyncd.service"
out=$(systemd-analyze verify --man=no "$WORK/otsyncd.service" 2>&1); rc=$?
[ -n "$out" ] && echo "$out"
check_eq "systemd-analyze verify accepts the unit" 0 "$rc"
for want in 'Type=notify' 'ExecReload=.*otsyncd -t' 'ExecReload=/bin/kill -HUP' 'User=otsync' \
    'StateDirectory=otsync' 'RuntimeDirectory=otsync' 'ProtectSystem=strict' 'NoNewPrivileges=yes'; do
    check "the unit has $want" grep -q "^$want" "$unit"
done
finish
