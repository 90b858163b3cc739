#!/usr/bin/env bash
# git: init a repository, commit files twice, log, show, gc and fsck.
# Usage: git.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

export HOME=$mg_tmp GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t \
  GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
  GIT_COMMITTER_EMAIL=t@example.com GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' \
  GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
repo=$mg_tmp/repo
mkdir "$repo" && cd "$repo" || exit 1
mg git init -q -b main . || fail "git init exited $?"
for i in $(seq 200); do seq "$i" > "f$i.txt"; done
mg git add . || fail "git add exited $?"
mg git commit -q -m first || fail "git commit exited $?"
for i in $(seq 1 2 200); do echo changed >> "f$i.txt"; done
mg git commit -q -a -m second || fail "second commit exited $?"
expect_eq "$(mg git log --format=%s | tr '\n' ' ')" "second first " "git log"
expect_eq "$(mg git show HEAD:f3.txt | tr '\n' ' ')" "1 2 3 changed " "git show"
expect_eq "$(mg git diff --stat HEAD~1 | tail -1)" \
  " 100 files changed, 100 insertions(+)" "git diff --stat"
mg git gc -q || fail "git gc exited $?"
mg git fsck --no-progress 2> "$mg_tmp/fsck" || fail "git fsck exited $?"
expect_eq "$(mg git rev-list --count HEAD)" "2" "rev-list"
pass git
