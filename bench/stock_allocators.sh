# The stock allocators memgroup is compared with, in one place for
# bench/compare_allocators.sh and bench/shapes.sh (sourced by both, not run):
# glibc (nothing preloaded) and Debian 12's packages of jemalloc, mimalloc and
# tcmalloc (scripts/install-deps.sh installs them).
#
# Defines:
#   stock_allocators   the names, in table order
#   stock_preload      name -> the library to LD_PRELOAD ("" for glibc)
#   stock_check        exits 2 naming the first missing library
#   stock_versions     prints the packages' versions, "pkg version, ..."

stock_libdir=/usr/lib/x86_64-linux-gnu
stock_allocators=(glibc jemalloc mimalloc tcmalloc)
declare -A stock_preload=(
  [glibc]=""
  [jemalloc]=$stock_libdir/libjemalloc.so.2
  [mimalloc]=$stock_libdir/libmimalloc.so.2
  [tcmalloc]=$stock_libdir/libtcmalloc_minimal.so.4
)
# The Debian packages that hold the libraries above (and glibc's).
stock_packages=(libc6 libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4)

stock_check() {
  local a p
  for a in "${stock_allocators[@]}"; do
    p=${stock_preload[$a]}
    if [[ -n "$p" && ! -f "$p" ]]; then
      echo "missing stock allocator $a: $p (scripts/install-deps.sh installs it)" >&2
      exit 2
    fi
  done
}

stock_versions() {
  dpkg-query -W -f '${Package} ${Version}, ' "${stock_packages[@]}" 2>/dev/null |
    sed 's/, $//'
}
