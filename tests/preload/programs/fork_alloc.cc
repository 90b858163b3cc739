// Forks 100 times while a second thread of the parent keeps allocating; each
// child allocates at once (malloc, new, std::string, a thread), frees blocks
// its parent allocated before the fork, and exits with a status that says
// whether everything checked out.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<long> g_churn{0};

void Churn() {
  std::vector<void*> blocks(256, nullptr);
  unsigned i = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    unsigned slot = i % 256;
    free(blocks[slot]);
    size_t n = 16 + (i * 2654435761u) % 20000;
    blocks[slot] = malloc(n);
    if (blocks[slot] == nullptr) abort();
    Fill(blocks[slot], n < 64 ? n : 64, i);
    ++i;
    g_churn.fetch_add(1, std::memory_order_relaxed);
  }
  for (void* p : blocks) free(p);
}

int Child(void* inherited, size_t inherited_len, int index) {
  if (!Check(inherited, inherited_len, static_cast<unsigned>(index))) return 10;
  free(inherited);
  std::vector<std::string> strings;
  for (int i = 0; i < 2000; ++i)
    strings.push_back(std::to_string(i) + "-child");
  long total = 0;
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) {
      int* p = new int[64];
      p[63] = i;
      total += p[63];
      delete[] p;
    }
  });
  t.join();
  if (total != 999 * 1000 / 2) return 11;
  void* big = malloc(4 << 20);
  if (big == nullptr) return 12;
  Fill(big, 4 << 20, 5);
  if (!Check(big, 4 << 20, 5)) return 13;
  free(big);
  return strings[1999] == "1999-child" ? 0 : 14;
}

}  // namespace

int main() {
  std::thread churn(Churn);
  constexpr int kForks = 100;
  int failures = 0;
  for (int i = 0; i < kForks; ++i) {
    size_t len = 100 + static_cast<size_t>(i) * 37;
    void* inherited = malloc(len);
    MG_EXPECT(inherited != nullptr);
    Fill(inherited, len, static_cast<unsigned>(i));
    pid_t pid = fork();
    MG_EXPECT(pid >= 0);
    if (pid == 0) _exit(Child(inherited, len, i));
    free(inherited);
    int status = 0;
    MG_EXPECT(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child %d: %s %d\n", i,
              WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      ++failures;
    }
  }
  g_stop.store(true);
  churn.join();
  MG_EXPECT(failures == 0);
  MG_EXPECT(g_churn.load() > 0);
  printf("fork_alloc: %d children ok\n", kForks);
  puts("fork_alloc: OK");
  return 0;
}
