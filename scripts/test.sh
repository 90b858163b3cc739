#!/bin/sh
# Builds memgroup and runs the whole test suite: the release build (unit,
# stress, preload and real-program tests), then the TSan and ASan+UBSan
# builds of the library-mode code (the preload shim cannot run under a
# sanitizer), then a short run of the libFuzzer targets (scripts/fuzz.sh,
# 15 s each: about two minutes with its build). Exits non-zero on any
# failure.
set -eu
cd "$(dirname "$0")/.."
for preset in release tsan asan; do
  echo "=== memgroup: $preset ==="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset"
done
echo "=== memgroup: fuzz ==="
./scripts/fuzz.sh --seconds 15
echo "=== memgroup: all tests passed ==="
