#!/bin/bash
# Man pages: mandoc finds nothing at warning level or above.
. "$(dirname "$0")/lib.sh"
for m in "$top_srcdir"/man/*.[1-8]; do
    out=$(mandoc -T lint -W warning "$m" 2>&1); rc=$?
    [ -n "$out" ] && echo "$out"
    check_eq "mandoc -T lint $(basename "$m")" 0 "$rc"
done
finish
