// How much address space the engine reserves: the size owner_table::Init
// tries first. Without an address-space limit (RLIMIT_AS) that is the full
// default reservation; under one, a share of what the limit leaves free, so
// that a program started under `ulimit -v` keeps room for its own mappings
// (libraries, thread stacks, files) while its heap lives in the reservation.
// Must never: allocate (this runs inside the program's first malloc), or
// use stdio.
#ifndef MEMGROUP_SRC_ENGINE_VA_BUDGET_H_
#define MEMGROUP_SRC_ENGINE_VA_BUDGET_H_

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::va_budget {

// RLIMIT_AS is RLIM_INFINITY.
inline constexpr uint64_t kNoLimit = ~uint64_t{0};

// The engine takes 1 / 2^kShareShift of the address space the limit leaves
// free at initialisation (one half).
inline constexpr unsigned kShareShift = 1;

// The process's address space when the engine initialises.
struct AddressSpace {
  uint64_t limit_bytes;  // soft RLIMIT_AS, or kNoLimit
  uint64_t used_bytes;   // VmSize (0 when /proc cannot be read)
};

// Reads the soft RLIMIT_AS (getrlimit) and VmSize (/proc/self/statm, with
// raw system calls). Allocates: never.
AddressSpace Read();

// The reservation to try first for `as`, where `max_bytes` is the default
// (largest) reservation, `min_bytes` the smallest the engine accepts, both
// multiples of `chunk_bytes`, and `overhead_per_mille` the engine's maps
// sized in proportion to the reservation (per mille of it) that count
// against the limit too. Without a limit: max_bytes. Under one: the largest
// multiple of chunk_bytes, at most max_bytes, whose footprint (plus
// chunk_bytes of alignment slack) fits in the share of limit - used; or 0
// when that is under min_bytes: the rest of the address space would then be
// too small for the program and for jemalloc's own metadata (mapped outside
// the reservation), so the engine does not start rather than fail later.
// Pure; constexpr for tests.
constexpr size_t TargetBytes(const AddressSpace& as, size_t max_bytes,
                             size_t min_bytes, size_t chunk_bytes,
                             size_t overhead_per_mille) {
  if (as.limit_bytes == kNoLimit) return max_bytes;
  const uint64_t free_bytes =
      as.limit_bytes > as.used_bytes ? as.limit_bytes - as.used_bytes : 0;
  uint64_t share = free_bytes >> kShareShift;
  if (share <= chunk_bytes) return 0;
  share -= chunk_bytes;  // MetaReserve maps `align` more, then trims it.
  uint64_t bytes = share / (1000 + overhead_per_mille) * 1000;
  bytes &= ~static_cast<uint64_t>(chunk_bytes - 1);
  if (bytes < min_bytes) return 0;
  if (bytes > max_bytes) return max_bytes;
  return static_cast<size_t>(bytes);
}

}  // namespace memgroup::internal::va_budget

#endif  // MEMGROUP_SRC_ENGINE_VA_BUDGET_H_
