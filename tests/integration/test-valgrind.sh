#!/bin/bash
# valgrind finds no leak and no memory error in the HTTP core's tests (a misbehaving server on
# 127.0.0.1) and the journal's. Skipped (77) in the sanitizer build, where ASan does this job
# and valgrind cannot run alongside it.
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null 2>&1 || { echo "no valgrind: skipped"; exit 77; }
if ldd "$top_builddir/tests/unit/test-net" | grep -q libasan; then
    echo "sanitizer build: skipped"; exit 77
fi
for t in test-net test-journal; do
    valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
        "$top_builddir/tests/unit/$t" > "$WORK/$t.out" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || tail -n 30 "$WORK/$t.out"
    check_eq "valgrind: $t runs clean" 0 "$rc"
done
finish
