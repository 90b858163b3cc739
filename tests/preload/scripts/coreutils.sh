#!/usr/bin/env bash
# coreutils: sort 100k lines from seq (lexicographic, numeric, parallel,
# reverse, unique) and ls -lR /usr/include.
# Usage: coreutils.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

cd "$mg_tmp" || exit 1
seq 100000 > in
mg sort in > lex || fail "sort exited $?"
expect_eq "$(head -3 lex | tr '\n' ' ')" "1 10 100 " "lexicographic sort"
mg sort -n --parallel=2 -S 1M lex > num || fail "sort -n exited $?"
cmp -s num in || fail "sort -n of sorted lines differs from seq"
expect_eq "$(mg sort -rn in | head -1)" "100000" "sort -rn"
expect_eq "$(cat in in | mg sort -u | wc -l)" "100000" "sort -u"

ls -lR /usr/include > ls.ref 2>&1
mg ls -lR /usr/include > ls.out 2>&1 || fail "ls -lR exited $?"
[ "$(wc -l < ls.out)" -gt 1000 ] || fail "ls -lR printed too little"
cmp -s ls.ref ls.out || fail "ls -lR output differs from a plain run"
pass coreutils
