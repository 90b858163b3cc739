#!/usr/bin/env bash
# bash: a loop with string, array and associative-array operations.
# Usage: bash.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

cat > "$mg_tmp/t.sh" <<'SCRIPT'
s=""; declare -A h; arr=()
for ((i = 0; i < 20000; i++)); do
  s+="x$i,"; h[k$i]=$((i * i)); arr+=("${i}abc")
done
echo "${#s} ${#h[@]} ${#arr[@]}"
t=${s//x/Y}; echo "${#t} ${t:0:10}"
u=${s^^}; echo "${u:0:12}"
sum=0; for k in "${!h[@]}"; do sum=$((sum + h[$k])); done; echo "$sum"
echo "${arr[19999]} ${arr[@]: -2:1}"
printf '%s\n' "${arr[@]}" | while read -r line; do echo "${line%abc}"; done | tail -1
n=0; while IFS=, read -r -d, word; do n=$((n + 1)); done <<< "$s"; echo "$n"
SCRIPT
mg bash "$mg_tmp/t.sh" > "$mg_tmp/out" || fail "bash exited $?"
expected='128890 20000 20000
128890 Y0,Y1,Y2,Y
X0,X1,X2,X3,
2666466670000
19999abc 19998abc
19999
20000'
expect_eq "$(cat "$mg_tmp/out")" "$expected" "bash output"
pass bash
