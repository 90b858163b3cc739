// Charging mappings made by the program: mmap, munmap, mremap and mprotect
// (preload's forwarders; the system calls are raw, never libc's). The rule
// is the kernel's commit accounting (what vm.overcommit_memory=2 counts), in
// the calling thread's group, page-rounded:
//   - a private anonymous mapping is charged while it is writable: at mmap
//     with PROT_WRITE, at an mprotect that adds PROT_WRITE, at mremap growth
//     of a charged range; PROT_NONE and read-only reservations are not, and
//     MAP_NORESERVE ones never are;
//   - an mprotect to PROT_NONE uncharges (the kernel keeps the commit until
//     munmap; memgroup releases it, as memcg holds nothing for untouched
//     pages);
//   - munmap, mremap shrink and MAP_FIXED over a range uncharge what they
//     replace, also partially;
//   - file-backed mappings (private writable ones too) and shared
//     anonymous mappings are tracked and reported (file_mapped, shmem),
//     never charged.
// An mprotect or mremap over the limit fails with ENOMEM and changes
// nothing. Ranges are tracked by engine/mmap_tracker.h.
// Must never: allocate, call libc's mmap family, hold the range lock while
// charging. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_
#define MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::alloc {

void* MapCharged(void* addr, size_t len, int prot, int flags, int fd,
                 off_t off);
int UnmapCharged(void* addr, size_t len);
// `new_addr`: MREMAP_FIXED's target (ignored without that flag).
void* RemapCharged(void* old_addr, size_t old_len, size_t new_len, int flags,
                   void* new_addr);
int ProtectCharged(void* addr, size_t len, int prot);

// Bytes of file-backed and shared anonymous mappings made in `group` and
// its descendants (stat.file_mapped, stat.shmem). Allocates: never.
void ReadMappedBytes(uint32_t group, int64_t* file_mapped, int64_t* shmem);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_
