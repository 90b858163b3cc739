#!/usr/bin/env bash
# Builds the Debian package of a memgroup build tree with `cpack -G DEB`,
# unpacks it with `dpkg-deb -x` into a scratch root (not installed on the
# machine) and checks it:
#   1. the control fields: name, the version of project(), Depends computed
#      by dpkg-shlibdeps (libc6 and the Abseil libraries of the command);
#   2. `dpkg-deb -c` lists the command, the library, the headers, both
#      pkg-config files, the CMake package and the man pages memgroup(1) and
#      memgroup(3), which render without warnings (groff -ww);
#   3. the packaged command, run from the scratch root with no
#      MEMGROUP_LIBRARY and no LD_LIBRARY_PATH, preloads the packaged
#      library (it looks in ../lib next to itself) and python3 gets
#      MemoryError under `--max 64M` and recovers;
#   4. a C program builds with the packaged memgroup-c.pc (relocatable:
#      paths relative to the .pc file) and runs against the packaged library.
# Everything is written under one temporary directory, removed on exit; the
# build tree is left as it was.
#
# usage: tests/install/deb_test.sh [--cpack CPACK] [--cc CC] [--python PY]
#                                  --version VERSION BUILD_DIR
#   --cpack CPACK       cpack to build the package with (default: on PATH)
#   --cc CC             C compiler for the consumer (default: cc)
#   --python PY         python3 to run under the limit (default: python3)
#   --version VERSION   the version the package must have (project())
set -euo pipefail

# usage [STATUS]: the header comment, then exit STATUS: 0 for -h/--help (on
# stdout), else 2, a usage error (on stderr).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}

cpack_bin=cpack cc=cc python=python3 version=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpack|--cc|--python|--version)
      [[ $# -ge 2 ]] || { echo "$1 needs an argument" >&2; usage; }
      case "$1" in
        --cpack) cpack_bin=$2 ;; --cc) cc=$2 ;; --python) python=$2 ;;
        --version) version=$2 ;;
      esac
      shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
  shift
done
[[ $# -eq 1 && -n "$version" ]] || usage
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for tool in dpkg-deb dpkg-shlibdeps pkg-config "$python"; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

# shellcheck source=scratch.sh
. "$here/scratch.sh"
scratch_init deb "$build"
root=$tmp/root

step "cpack -G DEB --config $build/CPackConfig.cmake"
quiet "$cpack_bin" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg"
debs=("$tmp"/pkg/*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "expected one .deb, got: ${debs[*]}"
deb=${debs[0]}
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"

step "control fields"
field() { dpkg-deb -f "$deb" "$1"; }
[[ "$(field Package)" == memgroup ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$version" || "$(field Version)" == "$version"-* ]] ||
  fail "Version: $(field Version), expected $version"
[[ "$(field Architecture)" == "$(dpkg --print-architecture)" ]] ||
  fail "Architecture: $(field Architecture)"
[[ -n "$(field Maintainer)" && -n "$(field Description)" ]] ||
  fail "no Maintainer or Description"
depends=$(field Depends)
echo "Depends: $depends"
[[ "$depends" == *libc6* ]] || fail "Depends has no libc6"
# The command links Abseil's shared libraries (Debian's libabsl20220623);
# libmemgroup.so itself needs libc only.
[[ "$depends" == *libabsl* ]] || fail "Depends has no Abseil package"

step "dpkg-deb -c: the files"
# The path is the 6th column (a symlink's line goes on with "-> TARGET").
dpkg-deb -c "$deb" | awk '{print $6}' > "$tmp/files"
expect_file() {  # a path pattern (grep -E) that must be listed
  grep -Eq "$1" "$tmp/files" || { cat "$tmp/files" >&2; fail "not in the package: $1"; }
}
expect_file '^\./usr/bin/memgroup$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?libmemgroup\.so\.0$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?libmemgroup\.so$'
expect_file '^\./usr/include/memgroup/memgroup\.h$'
expect_file '^\./usr/include/memgroup/memgroup\.hpp$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?pkgconfig/memgroup\.pc$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?pkgconfig/memgroup-c\.pc$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?cmake/memgroup/memgroupConfig\.cmake$'
expect_file '^\./usr/lib/([a-z0-9_-]+/)?cmake/memgroup/memgroupTargets\.cmake$'
expect_file '^\./usr/share/man/man1/memgroup\.1\.gz$'
expect_file '^\./usr/share/man/man3/memgroup\.3\.gz$'
# Outputs are taken whole before matching: `cmd | grep -q` under pipefail
# fails when cmd dies of SIGPIPE after grep's early match.
outside=$(grep -Ev '^\./usr(/|$)|^\./$' "$tmp/files" || true)
[[ -z "$outside" ]] || fail "files outside /usr: $outside"

step "dpkg-deb -x into a scratch root"
quiet dpkg-deb -x "$deb" "$root"
for page in man1/memgroup.1 man3/memgroup.3; do
  gz=$root/usr/share/man/$page.gz
  if command -v groff >/dev/null; then
    # -ww: every warning; -z: no output. Any warning fails.
    gzip -dc "$gz" | groff -man -Tutf8 -ww -z 2> "$tmp/groff" ||
      fail "groff failed on $page"
    [[ ! -s "$tmp/groff" ]] || { cat "$tmp/groff" >&2; fail "groff warnings in $page"; }
  fi
  text=$(gzip -dc "$gz")
  grep -q '^\.SH NAME' <<<"$text" || fail "$page has no NAME section"
done
text=$(gzip -dc "$root/usr/share/man/man1/memgroup.1.gz")
grep -q '^\.SS run$' <<<"$text" || fail "memgroup(1) has no subsection for run"

step "the packaged command on python3 under --max 64M"
unset MEMGROUP_LIBRARY LD_PRELOAD LD_LIBRARY_PATH
for v in $(env | sed -n 's/^\(MEMGROUP_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
mg=$root/usr/bin/memgroup
[[ "$("$mg" --version)" == "memgroup $version" ]] ||
  fail "memgroup --version: $("$mg" --version)"
"$mg" run --max 64M --stats "$tmp/stats" -- "$python" -c '
import os, sys
root = sys.argv[1]
lib = os.environ["LD_PRELOAD"].split(":")[0]
# The packaged library, found next to the packaged command.
assert os.path.realpath(lib).startswith(os.path.realpath(root) + "/usr/lib/"), lib
items = []
try:
    while True:
        items.append(bytearray(2**20))
        if len(items) > 1024: sys.exit("no limit enforced")
except MemoryError:
    n = len(items)
del items
print("MemoryError after %d MiB" % n)
print("recovered")
' "$root" > "$tmp/out" 2> "$tmp/err" || {
  cat "$tmp/out"; cat "$tmp/err" >&2; fail "memgroup run exited $?"; }
cat "$tmp/out"
grep -qx recovered "$tmp/out" || fail "python did not recover"
grep -qx 'max 67108864' "$tmp/stats" || { cat "$tmp/stats" >&2; fail "job max"; }
grep -Eq '^events\.max [1-9]' "$tmp/stats" || { cat "$tmp/stats" >&2; fail "no max event"; }
grep -qx 'current 0' "$tmp/stats" || { cat "$tmp/stats" >&2; fail "charge left"; }

step "a C program built with the packaged memgroup-c.pc"
pcdir=$(dirname "$(find "$root" -name memgroup-c.pc | head -1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=
read -r -a flags < <(pkg-config --cflags --libs memgroup-c)
includedir=$(realpath "$(pkg-config --variable=includedir memgroup-c)")
libdir=$(realpath "$(pkg-config --variable=libdir memgroup-c)")
[[ "$includedir" == "$(realpath "$root")/usr/include" &&
   -f "$libdir/libmemgroup.so.0" && "$libdir" == "$(realpath "$root")"/* ]] ||
  fail "memgroup-c.pc does not point into the scratch root: ${flags[*]}"
quiet "$cc" -o "$tmp/consumer_c" "$here/consumer/consumer_c.c" "${flags[@]}" \
  -Wl,-rpath,"$libdir"
"$tmp/consumer_c"
# It ran with the packaged library, not one of the machine's.
# (ldd's output is taken whole first: `ldd | grep -q` under pipefail fails
# when grep exits at its match and ldd dies of SIGPIPE.)
libs=$(ldd "$tmp/consumer_c")
[[ "$libs" == *"$libdir/libmemgroup.so.0"* ]] ||
  { echo "$libs" >&2; fail "consumer_c does not load the packaged library"; }
echo "deb test passed"
