// Implements bootstrap.h. Each block is preceded by its size (a size_t just
// below it, in the 16-byte header).
#include "alloc/bootstrap.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/macros.h"

namespace memgroup::internal::alloc {
namespace {

constexpr size_t kBootstrapBytes = 256 * 1024;
alignas(4096) MG_TABLE_HOT constinit char g_bootstrap[kBootstrapBytes] = {};
// Bump offset. Relaxed: the buffer is only used by the initialising thread.
constinit std::atomic<size_t> g_bootstrap_used{0};
constexpr size_t kBootHeader = 16;

}  // namespace

void* BootstrapAlloc(size_t size, size_t align) {
  if (align < 16) align = 16;
  // Relaxed: only the initialising thread allocates here.
  size_t used = g_bootstrap_used.load(std::memory_order_relaxed);
  size_t start = (used + kBootHeader + align - 1) & ~(align - 1);
  if (size > kBootstrapBytes || start + size > kBootstrapBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  // Relaxed: as above.
  g_bootstrap_used.store(start + size, std::memory_order_relaxed);
  memcpy(&g_bootstrap[start - sizeof(size_t)], &size, sizeof(size_t));
  return &g_bootstrap[start];
}

bool IsBootstrap(const void* p) {
  const char* c = static_cast<const char*>(p);
  return c >= g_bootstrap && c < g_bootstrap + kBootstrapBytes;
}

size_t BootstrapSize(const void* p) {
  size_t size;
  memcpy(&size, static_cast<const char*>(p) - sizeof(size_t), sizeof(size_t));
  return size;
}

}  // namespace memgroup::internal::alloc
