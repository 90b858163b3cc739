# The allocators the comparison scripts run programs under, in one place for
# bench/compare_allocators.sh, bench/shapes.sh and bench/shapes_callgrind.sh
# (sourced by them, not run): glibc (nothing preloaded), Debian 12's
# packages of jemalloc, mimalloc and tcmalloc (scripts/install-deps.sh
# installs them), and memgroup on each engine ("memgroup" is
# MEMGROUP_ENGINE=jemalloc, "memgroup_mi" MEMGROUP_ENGINE=mimalloc).
#
# Defines:
#   stock_allocators   the stock names, in table order
#   stock_preload      stock name -> the library to LD_PRELOAD ("" for glibc)
#   stock_check        exits 2 naming the first missing stock library
#   stock_versions     prints the packages' versions, "pkg version, ..."
#   allocator_env      the `env` command line of one allocator

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

# allocator_env NAME LIB_MEMGROUP MEMGROUP_MAX: sets the array alloc_env to
# the `env` command line that runs a program under allocator NAME (a stock
# name, memgroup or memgroup_mi; memgroup is LIB_MEMGROUP preloaded with
# that MEMGROUP_MAX, so a limit is set). Only the program gets the
# allocator: nothing else in the command line should come before it.
allocator_env() {
  case $1 in
    memgroup) alloc_env=(env LD_PRELOAD="$2" MEMGROUP_MAX="$3" MEMGROUP_ENGINE=jemalloc) ;;
    memgroup_mi) alloc_env=(env LD_PRELOAD="$2" MEMGROUP_MAX="$3" MEMGROUP_ENGINE=mimalloc) ;;
    glibc) alloc_env=(env -u LD_PRELOAD) ;;
    *) alloc_env=(env LD_PRELOAD="${stock_preload[$1]}") ;;
  esac
}
