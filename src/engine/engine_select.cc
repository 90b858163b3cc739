// The process's engine choice (engine.h, SelectEngine): jemalloc or
// mimalloc, fixed before the engine initialises. Owns g_use_mimalloc
// (mimalloc_engine.h). Allocates: never.
#include <atomic>

#include "engine/engine.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {

constinit bool g_use_mimalloc = false;

void SelectEngine(EngineChoice choice) {
  // Relaxed: only the initialising thread calls this, before Init; once the
  // reservation exists (Init ran) the choice is fixed and this is ignored.
  if (owner_table::g_va_bytes.load(std::memory_order_relaxed) != 0) return;
  g_use_mimalloc = choice == EngineChoice::kMimalloc;
}

EngineChoice SelectedEngine() {
  return g_use_mimalloc ? EngineChoice::kMimalloc : EngineChoice::kJemalloc;
}

}  // namespace memgroup::internal::engine
