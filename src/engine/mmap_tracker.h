// Anonymous mappings made by the program (through the interposed mmap,
// mremap and munmap) and the group each one is charged to. Owns a sorted
// array of [start, end) ranges in MetaMap'ed memory, under one lock (mmap is
// a slow path: a system call). Supports partial unmaps, mremap growth,
// shrink and moves. Must never allocate through malloc.
#ifndef MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_
#define MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::mmap_tracker {

// Records [addr, addr+len) as charged to `group`. False if metadata memory
// is exhausted (the caller then uncharges and unmaps). Allocates: never.
[[nodiscard]] bool Insert(uintptr_t addr, size_t len, uint32_t group);

// Removes every tracked byte inside [addr, addr+len), splitting ranges, and
// calls uncharge(group, bytes, ctx) once per affected range. Allocates: never.
void Remove(uintptr_t addr, size_t len,
            void (*uncharge)(uint32_t group, size_t bytes, void* ctx),
            void* ctx);

// The group of the range containing addr, or 0xffff if untracked.
uint32_t GroupOf(uintptr_t addr);

// Bytes tracked in total (all groups). Allocates: never.
size_t TrackedBytes();

// fork(2): the lock is held across fork by the caller's atfork handlers.
void PrepareFork();
void ParentFork();
void ChildFork();

}  // namespace memgroup::internal::mmap_tracker

#endif  // MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_
