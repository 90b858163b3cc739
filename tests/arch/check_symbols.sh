#!/bin/sh
# Fails if libmemgroup.so exports anything but the allocation symbols, the
# mmap, exec and spawn families, the pthread_create and __libc_start_main hooks
# and the mg_* C ABI (no jemalloc
# internal or renamed symbol may leak), if it imports the mmap family
# (its own mappings must use raw system calls), or if it needs libstdc++ (a
# C program under the preload must not load a C++ runtime) or libm (every
# process would load it: base/float_math.h).
set -eu
lib=$1
allowed='^(malloc|free|cfree|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|__libc_(malloc|free|calloc|realloc|memalign)|mallocx|rallocx|xallocx|sallocx|dallocx|sdallocx|nallocx|mallctl|mallctlnametomib|mallctlbymib|malloc_stats_print|mmap|mmap64|munmap|mremap|mprotect|pthread_create|__libc_start_main|execve|execveat|fexecve|execv|execvp|execvpe|execl|execle|execlp|posix_spawn|posix_spawnp|mg_[a-z_]+|_Z(nw|na)m.*|_Z(dl|da)Pv.*)$'
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols in $lib:"; echo "$bad"; exit 1
fi
for s in malloc free calloc realloc posix_memalign aligned_alloc memalign valloc \
         pvalloc malloc_usable_size reallocarray cfree mmap munmap mremap mprotect \
         _Znwm _Znam _ZdlPv _ZdaPv _ZnwmSt11align_val_t _ZdlPvmSt11align_val_t \
         _ZnwmRKSt9nothrow_t _ZdlPvSt11align_val_tRKSt9nothrow_t mallocx sdallocx \
         pthread_create __libc_start_main; do
  nm -D --defined-only "$lib" | awk '{print $3}' | grep -qx "$s" || {
    echo "missing export: $s"; exit 1; }
done
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -cE '^_Z(nw|na|dl|da)')
[ "$count" -eq 20 ] || { echo "expected 20 operator new/delete exports, got $count"; exit 1; }
imported=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | grep -Ex '(mmap|mmap64|munmap|mremap|mprotect|madvise|malloc|free|calloc|realloc)' || true)
if [ -n "$imported" ]; then
  echo "libmemgroup.so imports allocation symbols it must not use:"; echo "$imported"; exit 1
fi
if readelf -d "$lib" | grep NEEDED | grep -q 'libstdc++'; then
  echo "libmemgroup.so needs libstdc++:"; readelf -d "$lib" | grep NEEDED; exit 1
fi
if readelf -d "$lib" | grep NEEDED | grep -q 'libm\.so'; then
  echo "libmemgroup.so needs libm:"; readelf -d "$lib" | grep NEEDED; exit 1
fi
echo "symbols OK"
