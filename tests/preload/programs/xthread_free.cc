// Cross-thread free stress: 4 threads each allocate mixed-size blocks and
// hand them to the next thread, which checks the contents and frees them.
// Usage: xthread_free [shared]. By default each worker has its own group (so
// every free is of another group's block); with `shared` all four share one
// group, so freed blocks go into the freeing thread's front cache (large ones
// with their charge kept in its stock) and come back out for its own
// allocations.
#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr int kThreads = 4;
constexpr int kBlocksPerThread = 200000;

struct Block {
  void* p;
  size_t len;
  unsigned seed;
};

struct Mailbox {
  std::mutex mu;
  std::vector<Block> blocks;
};

Mailbox g_boxes[kThreads];

// Under the memgroup preload each worker allocates in its own group (found
// with dlsym, so the program also runs plain); after every block is freed,
// every group must read exactly 0.
using CreateFn = int (*)(uint64_t, const char*, uint64_t*);
using RootFn = uint64_t (*)();
using SetFn = int (*)(uint64_t);
using CurrentFn = int (*)(uint64_t, int, int64_t*);
using ReclaimFn = int (*)(uint64_t, int64_t, int64_t*);
CreateFn g_create = nullptr;
SetFn g_set = nullptr;
CurrentFn g_current = nullptr;
uint64_t g_groups[kThreads] = {};
std::atomic<int> g_done_producing{0};
std::atomic<long> g_freed{0};
std::atomic<long> g_bad{0};

size_t SizeFor(unsigned i) {
  unsigned r = i * 2654435761u;
  if (r % 100 == 0) return 16384 + r % 300000;  // a few large blocks
  return 1 + r % 2048;
}

void Drain(int self, std::vector<Block>* local) {
  {
    std::lock_guard<std::mutex> lock(g_boxes[self].mu);
    local->swap(g_boxes[self].blocks);
  }
  for (const Block& b : *local) {
    if (!Check(b.p, b.len < 256 ? b.len : 256, b.seed)) g_bad.fetch_add(1);
    if (b.seed % 3 == 0) {
      ::operator delete(b.p);
    } else {
      free(b.p);
    }
  }
  g_freed.fetch_add(static_cast<long>(local->size()));
  local->clear();
}

void Worker(int self) {
  if (g_set != nullptr) MG_EXPECT(g_set(g_groups[self]) == 0);
  const int next = (self + 1) % kThreads;
  std::vector<Block> batch, local;
  for (int i = 0; i < kBlocksPerThread; ++i) {
    unsigned seed = static_cast<unsigned>(self * kBlocksPerThread + i);
    size_t len = SizeFor(seed);
    void* p = (seed % 3 == 0) ? ::operator new(len) : malloc(len);
    Fill(p, len < 256 ? len : 256, seed);
    batch.push_back(Block{p, len, seed});
    if (batch.size() == 64) {
      std::lock_guard<std::mutex> lock(g_boxes[next].mu);
      g_boxes[next].blocks.insert(g_boxes[next].blocks.end(), batch.begin(),
                                  batch.end());
      batch.clear();
    }
    if (i % 256 == 0) Drain(self, &local);
  }
  {
    std::lock_guard<std::mutex> lock(g_boxes[next].mu);
    g_boxes[next].blocks.insert(g_boxes[next].blocks.end(), batch.begin(),
                                batch.end());
  }
  g_done_producing.fetch_add(1);
  while (g_done_producing.load() < kThreads) Drain(self, &local);
  Drain(self, &local);
}

}  // namespace

int main(int argc, char** argv) {
  const bool shared = argc > 1 && strcmp(argv[1], "shared") == 0;
  g_create = reinterpret_cast<CreateFn>(dlsym(RTLD_DEFAULT, "mg_group_create"));
  auto root = reinterpret_cast<RootFn>(dlsym(RTLD_DEFAULT, "mg_root"));
  g_set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "mg_thread_set_group"));
  g_current =
      reinterpret_cast<CurrentFn>(dlsym(RTLD_DEFAULT, "mg_group_current"));
  auto reclaim =
      reinterpret_cast<ReclaimFn>(dlsym(RTLD_DEFAULT, "mg_group_reclaim"));
  if (g_create != nullptr) {
    for (int i = 0; i < kThreads; ++i) {
      char name[16];
      snprintf(name, sizeof(name), "worker%d", i);
      if (shared && i > 0) {
        g_groups[i] = g_groups[0];
      } else {
        MG_EXPECT(g_create(root(), name, &g_groups[i]) == 0);
      }
    }
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(Worker, i);
  for (auto& t : threads) t.join();
  MG_EXPECT(g_bad.load() == 0);
  MG_EXPECT(g_freed.load() == long{kThreads} * kBlocksPerThread);
  printf("xthread_free: %ld blocks freed across threads\n", g_freed.load());
  // Mailbox storage was allocated by the workers: release it too.
  for (Mailbox& box : g_boxes) std::vector<Block>().swap(box.blocks);
  if (g_current != nullptr) {
    for (int i = 0; i < kThreads; ++i) {
      // Small blocks are charged by their 64 KiB slab: each size class's
      // spare slab, and the slabs of this thread's cached frees (the
      // mailboxes' storage), stay charged until reclaim returns them.
      int64_t bytes = -1, released = 0;
      MG_EXPECT(reclaim(g_groups[i], INT64_MAX / 2, &released) == 0);
      MG_EXPECT(g_current(g_groups[i], 1, &bytes) == 0);
      printf("xthread_free: group worker%d current %lld\n", i,
             static_cast<long long>(bytes));
      MG_EXPECT(bytes == 0);
    }
  }
  puts("xthread_free: OK");
  return 0;
}
