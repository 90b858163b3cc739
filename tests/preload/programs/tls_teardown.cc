// Allocation after TLS teardown: a pthread key destructor and a C++
// thread_local destructor that malloc and free (and use std::string) while
// the thread exits, plus the same at process exit (atexit handler and a
// static destructor).
#include <pthread.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace {

std::atomic<int> g_key_dtors{0};
std::atomic<int> g_tl_dtors{0};
pthread_key_t g_key;

void KeyDestructor(void* value) {
  free(value);
  for (int i = 0; i < 10; ++i) {
    void* p = malloc(100 * (i + 1));
    if (p == nullptr) abort();
    Fill(p, 100, i);
    free(p);
  }
  std::string s(500, 'k');
  s += "destructor";
  if (s.size() == 510) g_key_dtors.fetch_add(1);
}

struct ThreadLocalThing {
  ThreadLocalThing() : data(new std::vector<std::string>(10, "tl")) {}
  ~ThreadLocalThing() {
    std::vector<std::string> copy(*data);  // allocate during teardown
    copy.emplace_back(1000, 'z');
    delete data;
    void* p = malloc(4096);
    if (p == nullptr) abort();
    free(p);
    if (copy.size() == 12) g_tl_dtors.fetch_add(1);
  }
  std::vector<std::string>* data;
};

thread_local ThreadLocalThing t_thing;

void Worker(int i) {
  MG_EXPECT(pthread_setspecific(g_key, malloc(64 + i)) == 0);
  t_thing.data->push_back("worker");
  std::string s = std::to_string(i);
  Escape(&s);
}

struct AtExitCheck {
  ~AtExitCheck() {
    std::string s(2000, 's');  // allocate in a static destructor
    void* p = malloc(1 << 16);
    if (p == nullptr) abort();
    free(p);
    Escape(&s);
  }
} g_static;

}  // namespace

int main() {
  MG_EXPECT(pthread_key_create(&g_key, KeyDestructor) == 0);
  atexit([] {
    void* p = calloc(100, 100);
    if (p == nullptr) abort();
    free(p);
  });
  constexpr int kRounds = 5, kThreads = 8;
  for (int r = 0; r < kRounds; ++r) {
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) threads.emplace_back(Worker, i);
    for (auto& t : threads) t.join();
  }
  MG_EXPECT(g_key_dtors.load() == kRounds * kThreads);
  MG_EXPECT(g_tl_dtors.load() == kRounds * kThreads);
  t_thing.data->push_back("main");  // main's thread_local dies at exit
  printf("tls_teardown: %d key and %d thread_local destructors allocated\n",
         g_key_dtors.load(), g_tl_dtors.load());
  puts("tls_teardown: OK");
  return 0;
}
