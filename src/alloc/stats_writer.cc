// Implements stats_writer.h.
#include "alloc/stats_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "alloc/env_config.h"
#include "alloc/mmap_charge.h"
#include "alloc/slow_path.h"
#include "base/raw_log.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "group/charger.h"
#include "group/registry.h"
#include "group/stats_report.h"

namespace memgroup::internal::alloc {

void WriteEngineStats(int fd, uint32_t group) {
  EngineGroupStats s;
  if (!engine::GroupStats(group, &s)) return;
  RawPrint(fd,
           "stat.overhead %lld\nstat.engine_mapped %llu\n"
           "stat.engine_resident %llu\nstat.engine_retained %llu\n"
           "stat.engine_metadata %llu\n",
           static_cast<long long>(OverheadBytes(s)),
           static_cast<unsigned long long>(s.mapped_bytes),
           static_cast<unsigned long long>(s.resident_bytes),
           static_cast<unsigned long long>(s.retained_bytes),
           static_cast<unsigned long long>(s.metadata_bytes));
  // The free pages decay, reclaim and purges returned to the OS and
  // uncharged (engine/free_pages.h); the charged ones are the group
  // layer's stat.engine_free (EngineHeapBytes).
  RawPrint(fd, "stat.engine_returned %llu\n",
           static_cast<unsigned long long>(s.returned_bytes));
  RawPrint(fd, "stat.allocs %llu\nstat.frees %llu\n",
           static_cast<unsigned long long>(s.nmalloc),
           static_cast<unsigned long long>(s.ndalloc));
  // Size-class histogram of the group's live blocks: "hist.SIZE COUNT".
  EngineSizeClass classes[64];
  size_t n = engine::GroupHistogram(group, classes, 64);
  for (size_t i = 0; i < n; ++i) {
    RawPrint(fd, "hist.%llu %llu\n",
             static_cast<unsigned long long>(classes[i].size),
             static_cast<unsigned long long>(classes[i].count));
  }
}

void EngineHeapBytes(uint32_t group, HeapBytes* out) {
  EngineGroupStats s;
  *out = HeapBytes{};
  if (!engine::GroupStats(group, &s)) return;
  // The engine's allocated bytes count the large blocks threads' caches
  // keep (front_cache.h): out of the program's hands, charged, not live.
  const int64_t cached = static_cast<int64_t>(s.cached_bytes);
  const int64_t live = static_cast<int64_t>(s.allocated_bytes) - cached;
  out->live = live > 0 ? live : 0;
  // The free pages the engine keeps charged for the group
  // (engine/free_pages.h, released slabs: slab_chunks.h, mimalloc_kept.cc).
  out->free = static_cast<int64_t>(s.free_bytes);
  out->cached = cached;
}

namespace {

// memory.stat's file_mapped and shmem of the group's subtree: bytes of
// file-backed and shared anonymous mappings (tracked, never charged).
void WriteMappedStats(int fd, uint32_t group) {
  int64_t file_mapped = 0, shmem = 0;
  ReadMappedBytes(group, &file_mapped, &shmem);
  RawPrint(fd, "stat.file_mapped %lld\nstat.shmem %lld\n",
           static_cast<long long>(file_mapped),
           static_cast<long long>(shmem));
}

}  // namespace

void WriteStats(int fd) {
  Registry& reg = GlobalRegistry();
  for (uint32_t g = 0, end = reg.SlotLimit(); g < end; ++g) {
    if (!reg.IsLive(g)) continue;
    WriteGroupStats(fd, g);
    WriteMappedStats(fd, g);
    WriteEngineStats(fd, g);
    if (g == kRootGroup) {
      // Process-wide, so in the root's block: frees of pointers memgroup
      // did not allocate, left alone (slow_path.h, FreeForeign).
      RawPrint(fd, "stat.foreign_frees %llu\n",
               static_cast<unsigned long long>(ForeignFrees()));
    }
    RawPrint(fd, "\n");
  }
}

void WriteStatsAtExit() {
  const char* path = StatsPath();
  if (path == nullptr) return;
  int fd = 2;
  bool close_fd = false;
  if (strcmp(path, "stderr") != 0 && strcmp(path, "-") != 0) {
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      RawLog("cannot write stats to %s: %s", path, strerror(errno));
      return;
    }
    close_fd = true;
  }
  // Return every stock first so that `current` reads exact.
  DrainSubtree(kNoGroup);
  RawPrint(fd, "memgroup stats pid %d\n", static_cast<int>(SysGetpid()));
  WriteStats(fd);
  if (close_fd) close(fd);
}

}  // namespace memgroup::internal::alloc
