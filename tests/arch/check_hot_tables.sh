#!/bin/sh
# Fails unless libmemgroup.so keeps its first-touched tables (MG_TABLE_HOT,
# src/base/macros.h) in a section .lbss.hot directly after .data, followed
# by the small globals (.bss.small), then .bss with jemalloc's emap and the
# other tables' .lbss (preload/hot_tables.ld), holding the tables that a
# process using only the root group touches and at most 4 MiB of them:
# their first pages then share the 2 MiB region .data already touches and
# the next ones instead of one region each beyond .bss.
set -eu
lib=$1
sections=$(readelf -SW "$lib" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p')
order=$(printf '%s\n' "$sections" | grep -x -B1 -A3 '\.lbss\.hot' | tr '\n' ' ')
[ "$order" = ".data .lbss.hot .bss.small .bss .lbss " ] || {
  echo "expected .data, .lbss.hot, .bss.small, .bss, .lbss in that order, got: $order"; exit 1; }
line=$(readelf -SW "$lib" | grep ' \.lbss\.hot ')
addr=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".lbss.hot") print $(i + 2)}')
size=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i == ".lbss.hot") print $(i + 4)}')
lo=$((0x$addr)); hi=$((0x$addr + 0x$size))
[ $((hi - lo)) -le $((4 << 20)) ] || {
  echo ".lbss.hot holds $((hi - lo)) bytes, more than 4 MiB"; exit 1; }
for t in g_arena_ind g_bins g_all_bins g_groups g_cached_large g_record_of \
         g_records g_bootstrap; do
  a=$(nm -C "$lib" | awk -v t="$t" '{n = $NF; sub(/.*::/, "", n)} n == t {print $1; exit}')
  [ -n "$a" ] || { echo "no table $t in $lib"; exit 1; }
  v=$((0x$a))
  [ "$v" -ge "$lo" ] && [ "$v" -lt "$hi" ] || {
    echo "table $t at 0x$a is not in .lbss.hot [$lo, $hi)"; exit 1; }
done
echo "hot tables: OK"
