#!/usr/bin/env bash
# ruby: arrays of strings, sort, hash, GC.
# Usage: ruby.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

out=$(mg ruby -e '
  a = (1..200_000).map { |i| "s#{i}" * 2 }
  b = a.sort.reverse
  h = a.each_with_index.to_h
  GC.start
  puts a.size, a.map(&:size).sum, b.first, h["s77s77"], a.each_slice(3).count
') || fail "ruby exited $?"
expect_eq "$out" "200000
2577790
s9s9
76
66667" "ruby output"
pass ruby
