#!/usr/bin/env bash
# perl: a hash of 200k entries, summed, half deleted, joined and split.
# Usage: perl.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

out=$(mg perl -e '
  my %h; $h{"k$_"} = $_ * 2 for 1 .. 200000;
  my $s = 0; $s += $_ for values %h;
  print scalar(keys %h), " $s\n";
  delete $h{"k$_"} for 1 .. 100000;
  my @parts = split /,/, join(",", sort keys %h);
  print scalar(keys %h), " ", scalar(@parts), " $parts[0]\n";
') || fail "perl exited $?"
expect_eq "$out" "200000 40000200000
100000 100000 k100001" "perl output"
pass perl
