#!/bin/sh
# Fails unless libmemgroup.so keeps, after .data, the small globals
# (.bss.small), then its first-touched tables (MG_TABLE_HOT, src/base/
# macros.h) in a section .lbss.hot, then .bss with jemalloc's emap and the
# other tables' .lbss (preload/hot_tables.ld), .lbss.hot holding the tables
# that a process using only the root group touches, at most 4 MiB of them,
# the jemalloc engine's own last: their first pages then share the 2 MiB
# regions .data and .bss.small touch and the next one instead of one
# region each beyond .bss.
set -eu
lib=$1
sections=$(readelf -SW "$lib" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p')
order=$(printf '%s\n' "$sections" | grep -x -B2 -A2 '\.lbss\.hot' | tr '\n' ' ')
[ "$order" = ".data .bss.small .lbss.hot .bss .lbss " ] || {
  echo "expected .data, .bss.small, .lbss.hot, .bss, .lbss in that order, got: $order"; exit 1; }
line=$(readelf -SW "$lib" | grep ' \.lbss\.hot ')
addr=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".lbss.hot") print $(i + 2)}')
size=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".lbss.hot") print $(i + 4)}')
lo=$((0x$addr)); hi=$((0x$addr + 0x$size))
[ $((hi - lo)) -le $((4 << 20)) ] || {
  echo ".lbss.hot holds $((hi - lo)) bytes, more than 4 MiB"; exit 1; }
for t in g_group_rows g_all_bins g_record_of g_records g_bootstrap; do
  a=$(nm -C "$lib" | awk -v t="$t" '{n = $NF; sub(/.*::/, "", n)} n == t {print $1; exit}')
  [ -n "$a" ] || { echo "no table $t in $lib"; exit 1; }
  v=$((0x$a))
  [ "$v" -ge "$lo" ] && [ "$v" -lt "$hi" ] || {
    echo "table $t at 0x$a is not in .lbss.hot [$lo, $hi)"; exit 1; }
done
# The jemalloc engine's own hot tables after every other.
addr_of() {
  nm -C "$lib" | awk -v t="$1" '{n = $NF; sub(/.*::/, "", n)} n == t {print $1; exit}'
}
for t in g_records g_record_of; do
  for u in g_group_rows g_all_bins g_bootstrap; do
    [ $((0x$(addr_of "$t"))) -gt $((0x$(addr_of "$u"))) ] || {
      echo "jemalloc engine table $t lies before $u"; exit 1; }
  done
done
# jemalloc's 2 MiB emap (arena.o's .bss) in .bss, past the small globals
# and the hot tables: in .bss.small it would push them 2 MiB further.
line=$(readelf -SW "$lib" | grep ' \.bss ')
baddr=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".bss") print $(i + 2)}')
bsize=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".bss") print $(i + 4)}')
e=$(nm "$lib" | awk '$NF ~ /arena_emap_global$/ {print $1; exit}')
[ -n "$e" ] || { echo "no jemalloc emap in $lib"; exit 1; }
[ $((0x$e)) -ge $((0x$baddr)) ] && [ $((0x$e)) -lt $((0x$baddr + 0x$bsize)) ] || {
  echo "jemalloc's emap at 0x$e is not in .bss"; exit 1; }
echo "hot tables: OK"
