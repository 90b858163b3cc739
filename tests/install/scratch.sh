# Sourced by the install tests (install_test.sh, deb_test.sh): a scratch
# directory removed on exit that leaves the build tree as it was, and the
# step/fail/quiet helpers they report with.
#
# scratch_init NAME BUILD_DIR: makes $tmp (memgroup-NAME-test.XXXXXX under
# $TMPDIR) and saves BUILD_DIR/install_manifest.txt, which an install step
# (cmake --install, cpack) rewrites: on exit the build tree gets back the
# one it had before (or none), and $tmp is removed.
scratch_init() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/memgroup-$1-test.XXXXXX")
  manifest=$2/install_manifest.txt
  if [[ -e "$manifest" ]]; then cp -p "$manifest" "$tmp/manifest.saved"; fi
  trap scratch_cleanup EXIT
}

scratch_cleanup() {
  if [[ -e "$tmp/manifest.saved" ]]; then
    cp -p "$tmp/manifest.saved" "$manifest"
  else
    rm -f "$manifest"
  fi
  rm -rf "$tmp"
}

step() { echo "--- $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# Runs "$@" with its output in $tmp/log, shown only when it fails.
quiet() {
  if ! "$@" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    fail "$*"
  fi
}
