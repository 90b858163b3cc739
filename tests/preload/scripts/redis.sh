#!/usr/bin/env bash
# redis-server on a unix socket in a temporary directory, driven by
# redis-benchmark (20000 SET and GET) and checked with redis-cli. Only the
# server is preloaded. The server is shut down at exit, also on failure, and
# cannot outlive the test by more than 60 s (timeout).
# Usage: redis.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

sock=$mg_tmp/redis.sock
cli() { timeout 20 redis-cli -s "$sock" "$@"; }

"${mg_prefix[@]}" timeout 60 redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
  --dir "$mg_tmp" --save "" --appendonly no --daemonize no \
  --logfile "$mg_tmp/redis.log" &
server=$!
on_exit "kill $server 2>/dev/null; wait $server 2>/dev/null"

for _ in $(seq 100); do
  [ -S "$sock" ] && [ "$(cli ping 2>/dev/null)" = PONG ] && break
  kill -0 "$server" 2>/dev/null || { cat "$mg_tmp/redis.log" >&2; fail "redis-server died at start"; }
  sleep 0.1
done
expect_eq "$(cli ping)" "PONG" "redis ping"

timeout 40 redis-benchmark -s "$sock" -q -n 20000 -t set,get -r 10000 -d 100 \
  > "$mg_tmp/bench" 2>&1 || { cat "$mg_tmp/bench" >&2; fail "redis-benchmark exited $?"; }
tr '\r' '\n' < "$mg_tmp/bench" | grep -E '^(SET|GET): .*requests per second' \
  > "$mg_tmp/bench.lines"
expect_eq "$(wc -l < "$mg_tmp/bench.lines")" "2" "redis-benchmark SET and GET lines"
cat "$mg_tmp/bench.lines"

expect_eq "$(cli set memgroup:key "hello world")" "OK" "redis SET"
expect_eq "$(cli get memgroup:key)" "hello world" "redis GET"
expect_eq "$(cli rpush memgroup:list a b c d)" "4" "redis RPUSH"
expect_eq "$(cli lrange memgroup:list 1 2 | tr '\n' ' ')" "b c " "redis LRANGE"
keys=$(cli dbsize)
[ "$keys" -ge 3 ] || fail "redis DBSIZE $keys"
cli info memory | tr -d '\r' | grep -E '^(used_memory_human|mem_allocator):'
expect_eq "$(cli shutdown nosave 2>&1)" "" "redis SHUTDOWN"
wait "$server"
status=$?
expect_eq "$status" "0" "redis-server exit status"
pass "redis-server"
