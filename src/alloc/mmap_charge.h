// Charging anonymous private mappings: mmap, munmap and mremap made by the
// program (preload's forwarders; the system calls are raw, never libc's).
// A mapping is charged to the calling thread's group, page-rounded, and
// tracked (engine/mmap_tracker.h) so that munmap and mremap uncharge the
// group that was charged, also partially. File-backed and shared mappings
// are not charged.
// Must never: allocate, call libc's mmap family, hold the range lock while
// charging. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_
#define MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_

#include <sys/types.h>

#include <cstddef>

namespace memgroup::internal::alloc {

void* MapCharged(void* addr, size_t len, int prot, int flags, int fd,
                 off_t off);
int UnmapCharged(void* addr, size_t len);
// `new_addr`: MREMAP_FIXED's target (ignored without that flag).
void* RemapCharged(void* old_addr, size_t old_len, size_t new_len, int flags,
                   void* new_addr);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_MMAP_CHARGE_H_
