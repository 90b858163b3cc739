#!/usr/bin/env bash
# g++: compile and link a small C++ program with the compiler (cc1plus, as,
# ld) preloaded, then run the result.
# Usage: gxx.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

cat > "$mg_tmp/prog.cc" <<'CXX'
#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <regex>
#include <string>
#include <vector>

template <typename T>
T Sum(const std::vector<T>& v) { return std::accumulate(v.begin(), v.end(), T{}); }

int main() {
  std::vector<long> v(1000);
  std::iota(v.begin(), v.end(), 1);
  std::map<std::string, int> m;
  for (int i = 0; i < 100; ++i) m["key" + std::to_string(i % 10)] += i;
  std::regex re("key([0-9])");
  std::smatch match;
  std::string k = m.rbegin()->first;
  std::regex_match(k, match, re);
  std::cout << Sum(v) << " " << m.size() << " " << m["key9"] << " " << match[1] << "\n";
}
CXX
cd "$mg_tmp" || exit 1
mg g++ -std=c++17 -O1 -o prog prog.cc || fail "g++ exited $?"
expect_eq "$(./prog)" "500500 10 540 9" "compiled program output"
pass "g++"
