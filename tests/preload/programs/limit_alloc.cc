// Runs into a memory limit (MEMGROUP_MAX) on purpose.
//   limit_alloc enomem LIMIT_MIB  malloc gets NULL+ENOMEM, nothrow new gets
//                                 null, new runs the new_handler and then
//                                 throws std::bad_alloc; after freeing,
//                                 allocation works again. Exit 0 on success.
//   limit_alloc exhaust LIMIT_MIB allocates until failure; under
//                                 MEMGROUP_OOM=abort|kill the process must
//                                 die before malloc returns NULL (exit 3).
// Either mode fails (exit 4) if it gets 8x LIMIT_MIB without a failure.
#include <errno.h>

#include <new>
#include <vector>

#include "common.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
size_t g_cap_mib = 0;

void* g_reserve = nullptr;
int g_handler_calls = 0;

void ReleaseReserve() {
  ++g_handler_calls;
  if (g_reserve != nullptr) {
    free(g_reserve);
    g_reserve = nullptr;
  } else {
    std::set_new_handler(nullptr);  // nothing left: let new throw
  }
}

void Guard(size_t mib) {
  if (mib > g_cap_mib) {
    fprintf(stderr, "no limit enforced: got %zu MiB\n", mib);
    exit(4);
  }
}

int Enomem(size_t limit_mib) {
  std::vector<void*> blocks;
  blocks.reserve(8 * limit_mib + 16);  // no allocation while at the limit

  // 1. malloc returns NULL with errno ENOMEM.
  for (;;) {
    void* p = malloc(kMiB);
    if (p == nullptr) {
      MG_EXPECT(errno == ENOMEM);
      break;
    }
    Fill(p, kMiB, 1);
    blocks.push_back(p);
    Guard(blocks.size());
  }
  const size_t malloc_mib = blocks.size();
  MG_EXPECT(malloc_mib >= limit_mib / 4 && malloc_mib <= limit_mib);
  MG_EXPECT(::operator new(kMiB, std::nothrow) == nullptr);
  MG_EXPECT(calloc(1, kMiB) == nullptr);
  for (void* p : blocks) free(p);
  blocks.clear();

  // 2. operator new: the new_handler runs (freeing a reserve lets the
  //    allocation succeed), then std::bad_alloc.
  g_reserve = malloc(8 * kMiB);
  MG_EXPECT(g_reserve != nullptr);
  Fill(g_reserve, 8 * kMiB, 2);
  std::set_new_handler(ReleaseReserve);
  size_t new_mib = 0;
  try {
    for (;;) {
      void* p = ::operator new(kMiB);
      Fill(p, kMiB, 3);
      blocks.push_back(p);
      Guard(++new_mib);
    }
  } catch (const std::bad_alloc&) {
    printf("caught std::bad_alloc after %zu MiB\n", new_mib);
  }
  MG_EXPECT(g_handler_calls >= 2);
  MG_EXPECT(g_reserve == nullptr);
  for (void* p : blocks) ::operator delete(p);
  blocks.clear();

  // 3. Recovered: the limit's worth of memory minus slack is usable again.
  for (size_t i = 0; i < malloc_mib / 2; ++i) {
    void* p = malloc(kMiB);
    MG_EXPECT(p != nullptr);
    Fill(p, kMiB, 4);
    blocks.push_back(p);
  }
  for (void* p : blocks) free(p);
  printf("malloc failed with ENOMEM after %zu MiB, new_handler ran %d times\n",
         malloc_mib, g_handler_calls);
  puts("limit_alloc: recovered");
  return 0;
}

int Exhaust() {
  std::vector<void*> blocks;
  blocks.reserve(g_cap_mib + 16);
  for (;;) {
    void* p = malloc(kMiB);
    if (p == nullptr) {
      printf("exhaust: malloc returned NULL after %zu MiB\n", blocks.size());
      return 3;
    }
    Fill(p, kMiB, 5);
    blocks.push_back(p);
    Guard(blocks.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s enomem|exhaust LIMIT_MIB\n", argv[0]);
    return 2;
  }
  const size_t limit_mib = strtoul(argv[2], nullptr, 10);
  MG_EXPECT(limit_mib > 0);
  g_cap_mib = 8 * limit_mib;
  if (strcmp(argv[1], "enomem") == 0) return Enomem(limit_mib);
  if (strcmp(argv[1], "exhaust") == 0) return Exhaust();
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
