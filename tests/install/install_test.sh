#!/usr/bin/env bash
# Installs a memgroup build tree into a temporary prefix and builds C++ (and
# C) programs against the installed tree the two documented ways:
#   1. CMake: find_package(memgroup) and the target memgroup::memgroup, for
#      a C++ program (memgroup.hpp, which needs Abseil) and a C program;
#   2. pkg-config: `pkg-config --cflags --libs memgroup` with plain c++, and
#      `pkg-config --cflags --libs memgroup-c` with plain cc;
# then runs them. Checks that the C programs' links do not need Abseil.
# Everything is written under one temporary directory, removed on exit.
# The build tree is left as it was.
#
# usage: tests/install/install_test.sh [--cmake CMAKE] [--cxx CXX] [--cc CC] BUILD_DIR
#   --cmake CMAKE   cmake to install and configure with (default: cmake on PATH)
#   --cxx CXX       C++ compiler for the consumers (default: c++)
#   --cc CC         C compiler for the consumers (default: cc)
set -euo pipefail

# usage [STATUS]: the header comment, then exit STATUS: 0 for -h/--help (on
# stdout), else 2, a usage error (on stderr).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}

cmake_bin=cmake cxx=c++ cc=cc
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cmake|--cxx|--cc)
      [[ $# -ge 2 ]] || { echo "$1 needs an argument" >&2; usage; }
      case "$1" in --cmake) cmake_bin=$2 ;; --cxx) cxx=$2 ;; --cc) cc=$2 ;; esac
      shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
  shift
done
[[ $# -eq 1 ]] || usage
build=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v pkg-config >/dev/null || { echo "pkg-config not found" >&2; exit 1; }

# shellcheck source=scratch.sh
. "$here/scratch.sh"
scratch_init install "$build"
prefix=$tmp/prefix

step "cmake --install $build --prefix <tmp>"
quiet "$cmake_bin" --install "$build" --prefix "$prefix"
pc=$(find "$prefix" -name memgroup.pc -path '*/pkgconfig/*' | head -1)
[[ -n "$pc" ]] || { echo "no memgroup.pc installed" >&2; exit 1; }
libdir=$(cd "$(dirname "$pc")/.." && pwd)

# No DT_NEEDED entry naming Abseil in executable $1.
no_absl_needed() {
  if readelf -d "$1" | grep -q 'NEEDED.*libabsl'; then
    echo "FAILED: $1 (C, memgroup.h only) needs Abseil:" >&2
    readelf -d "$1" | grep 'NEEDED.*libabsl' >&2
    exit 1
  fi
}

step "CMake consumer: find_package(memgroup), memgroup::memgroup"
quiet "$cmake_bin" -S "$here/consumer" -B "$tmp/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
quiet "$cmake_bin" --build "$tmp/cmake-build"
"$tmp/cmake-build/consumer"
"$tmp/cmake-build/consumer_c"
no_absl_needed "$tmp/cmake-build/consumer_c"

step "pkg-config consumer: c++ \$(pkg-config --cflags --libs memgroup)"
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
read -r -a flags < <(pkg-config --cflags --libs memgroup)
quiet "$cxx" -std=c++17 -o "$tmp/consumer-pc" "$here/consumer/consumer.cc" \
  "${flags[@]}" -Wl,-rpath,"$libdir"
"$tmp/consumer-pc"
step "pkg-config consumer: cc \$(pkg-config --cflags --libs memgroup-c)"
read -r -a flags < <(pkg-config --cflags --libs memgroup-c)
quiet "$cc" -o "$tmp/consumer-c-pc" "$here/consumer/consumer_c.c" \
  "${flags[@]}" -Wl,-rpath,"$libdir"
"$tmp/consumer-c-pc"
no_absl_needed "$tmp/consumer-c-pc"
echo "install test passed"
