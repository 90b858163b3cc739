// What the allocation stress tests share (alloc_stress_test.cc and, under
// the preload, alloc_stress_dtv_test.cc): the malloc entry points they call
// (libmemgroup.so's malloc in alloc_stress_preload_test, MG_STRESS_PRELOAD;
// src/alloc's entry points in library mode), the block record and its
// pattern, the random size distribution, the MG_STRESS_* counts and a
// group's usage.
#ifndef MEMGROUP_TESTS_STRESS_ALLOC_STRESS_SUPPORT_H_
#define MEMGROUP_TESTS_STRESS_ALLOC_STRESS_SUPPORT_H_

#include "memgroup/memgroup.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#if MG_STRESS_PRELOAD
#include <malloc.h>
#else
#include "alloc/alloc_path.h"
#include "alloc/resize.h"
#include "alloc/slow_path.h"
#endif

namespace {

#if MG_STRESS_PRELOAD
// libmemgroup.so is the program's malloc.
inline void* Allocate(size_t n) { return malloc(n); }
inline void Release(void* p) { free(p); }
inline void* Resize(void* p, size_t n) { return realloc(p, n); }
inline size_t Usable(void* p) { return malloc_usable_size(p); }
#else
// Library mode: the process's malloc is libc's (or the sanitizer's); the
// entry points libmemgroup.so's malloc, free and realloc forward to.
namespace ma = memgroup::internal::alloc;
inline void* Allocate(size_t n) { return ma::AllocImpl(n, 0, false); }
inline void Release(void* p) { ma::FreeImpl(p); }
inline void* Resize(void* p, size_t n) { return ma::Realloc(p, n); }
inline size_t Usable(void* p) { return ma::UsableSize(p); }
#endif

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

// Every allocated block and what is known of it outside the block.
struct Block {
  void* p = nullptr;
  size_t size = 0;
  uint64_t id = 0;
};

// The pattern: up to 64 bytes at each end of the block, from its id (the
// middle of a large block is not touched, which keeps big blocks cheap).
inline uint8_t PatternByte(uint64_t id, size_t i) {
  return static_cast<uint8_t>((id * 0x9E3779B97F4A7C15ull + i * 131) >> 56);
}
inline void Stamp(const Block& b) {
  uint8_t* p = static_cast<uint8_t*>(b.p);
  const size_t head = b.size < 64 ? b.size : 64;
  for (size_t i = 0; i < head; ++i) p[i] = PatternByte(b.id, i);
  for (size_t i = b.size > 64 ? b.size - 64 : head; i < b.size; ++i) {
    p[i] = PatternByte(b.id, i);
  }
}
// The first `n` bytes of the pattern's head and tail that lie below `n`.
inline bool Intact(const Block& b, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(b.p);
  const size_t head = n < 64 ? n : 64;
  for (size_t i = 0; i < head; ++i) {
    if (p[i] != PatternByte(b.id, i)) return false;
  }
  if (n == b.size) {
    for (size_t i = b.size > 64 ? b.size - 64 : head; i < b.size; ++i) {
      if (p[i] != PatternByte(b.id, i)) return false;
    }
  }
  return true;
}

// 1 B to 6 MiB: 85% up to 512 B, 12% up to 64 KiB, 2.5% up to 1 MiB,
// 0.5% up to 6 MiB.
inline size_t RandomSize(std::mt19937_64& rng) {
  const uint64_t r = rng() % 1000;
  if (r < 850) return 1 + rng() % 512;
  if (r < 970) return 513 + rng() % (64 * kKiB - 512);
  if (r < 995) return 64 * kKiB + rng() % (kMiB - 64 * kKiB);
  return kMiB + rng() % (5 * kMiB);
}

inline size_t EnvCount(const char* name, size_t fallback) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    ADD_FAILURE() << name << "='" << v << "' is not a positive integer";
    return fallback;
  }
  return static_cast<size_t>(n);
}

inline int64_t Current(mg_group_t g) {
  int64_t v = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &v));
  return v;
}

}  // namespace

#endif  // MEMGROUP_TESTS_STRESS_ALLOC_STRESS_SUPPORT_H_
