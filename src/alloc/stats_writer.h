// The stats reports that need the engine's figures: each live group's
// `key value` block (group layer's lines, then the engine's), written by
// mg_stats_write and, with MEMGROUP_STATS, at exit; and the engine part of
// the OOM report and the live heap bytes of stat.heap (installed as the
// group layer's hooks).
// Must never: allocate (raw_log formats on the stack).
// Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_STATS_WRITER_H_
#define MEMGROUP_SRC_ALLOC_STATS_WRITER_H_

#include <cstdint>

#include "group/stats_report.h"

namespace memgroup::internal::alloc {

// The engine's lines of one group (overhead, mapped, resident, retained,
// metadata, returned free pages, allocs, frees and the size-class
// histogram).
void WriteEngineStats(int fd, uint32_t group);

// The engine's live-block bytes of one group, its charged free pages and
// its charged cached large blocks: stat.heap's, stat.engine_free's and
// stat.engine_cached's addends (group layer's SetHeapBytesHook).
void EngineHeapBytes(uint32_t group, HeapBytes* out);

// Every live group's stats block, separated by blank lines.
void WriteStats(int fd);

// atexit handler for MEMGROUP_STATS: drains every stock (so `current` reads
// exact) and writes the report to the configured file or stderr.
void WriteStatsAtExit();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_STATS_WRITER_H_
