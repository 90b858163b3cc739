// Threads whose first allocator call is a free (or delete, or realloc) of a
// block another thread allocated (snmalloc's first_operation test). Threads
// are created with pthread_create so that nothing allocates on the new
// thread before the call under test.
#include <pthread.h>

#include <new>

#include "common.h"

namespace {

struct Task {
  int kind;
  void* block;
  size_t len;
  unsigned seed;
  int ok;
};

void* FirstCall(void* arg) {
  Task* t = static_cast<Task*>(arg);
  switch (t->kind) {
    case 0:
      free(t->block);
      break;
    case 1:
      ::operator delete(t->block);
      break;
    case 2: {
      void* grown = realloc(t->block, t->len * 4);
      if (grown == nullptr || !Check(grown, t->len, t->seed)) return nullptr;
      free(grown);
      break;
    }
    case 3:
      free(nullptr);
      free(t->block);
      break;
  }
  // Then allocate and free on this thread as usual.
  for (int i = 0; i < 1000; ++i) {
    void* p = malloc(32 + i);
    if (p == nullptr) return nullptr;
    Fill(p, 32, i);
    free(p);
  }
  t->ok = 1;
  return nullptr;
}

}  // namespace

int main() {
  constexpr int kThreads = 32;
  Task tasks[kThreads];
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    size_t len = 16u << (i % 12);  // 16 B .. 32 KiB
    void* block = (i % 4 == 1) ? ::operator new(len) : malloc(len);
    Fill(block, len, static_cast<unsigned>(i));
    tasks[i] = Task{i % 4, block, len, static_cast<unsigned>(i), 0};
  }
  for (int i = 0; i < kThreads; ++i) {
    MG_EXPECT(pthread_create(&threads[i], nullptr, FirstCall, &tasks[i]) == 0);
  }
  for (int i = 0; i < kThreads; ++i) {
    MG_EXPECT(pthread_join(threads[i], nullptr) == 0);
    MG_EXPECT(tasks[i].ok == 1);
  }
  printf("first_free: %d threads ok\n", kThreads);
  puts("first_free: OK");
  return 0;
}
