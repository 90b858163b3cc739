#!/usr/bin/env bash
# Which libmimalloc.so.2 the mimalloc engine opens: the one the build found
# (by its path, without the loader's search), or, with LD_LIBRARY_PATH set,
# the first the loader's search finds by the soname, as for any library.
# Usage: mimalloc_load.sh LIBRARY PROGRAM FAKE_DIR
#   PROGRAM prints "main reached"; FAKE_DIR holds a libmimalloc.so.2 that is
#   not mimalloc.
. "$(dirname "$0")/lib.sh"
require_lib
program=$1
fake_dir=$2

# The engine's library, loaded: the process maps a libmimalloc.so.2 that is
# not the fake one.
env -u LD_LIBRARY_PATH MEMGROUP_ENGINE=mimalloc "${mg_prefix[@]}" \
  cat /proc/self/maps > "$mg_tmp/maps" || fail "cat under the mimalloc engine"
grep -q "libmimalloc.so.2" "$mg_tmp/maps" || fail "no libmimalloc.so.2 mapped"
grep -q "$fake_dir" "$mg_tmp/maps" && fail "the fake library was mapped"
out=$(env -u LD_LIBRARY_PATH MEMGROUP_ENGINE=mimalloc "${mg_prefix[@]}" "$program") ||
  fail "the program failed under the mimalloc engine"
expect_eq "$out" "main reached" "without LD_LIBRARY_PATH"

# LD_LIBRARY_PATH leads to the fake one: the engine opens it, finds no
# mi_version, and the process stops before main saying so.
env LD_LIBRARY_PATH="$fake_dir" MEMGROUP_ENGINE=mimalloc "${mg_prefix[@]}" \
  "$program" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/err" >&2
[ "$status" -ne 0 ] || fail "the fake libmimalloc.so.2 was accepted"
grep -q "main reached" "$mg_tmp/out" && fail "main ran with the fake library"
expect_contains "$mg_tmp/err" "libmimalloc.so.2 has no mi_version" \
  "the message naming the library"
pass "libmimalloc.so.2 opened by path, or by LD_LIBRARY_PATH's search"
