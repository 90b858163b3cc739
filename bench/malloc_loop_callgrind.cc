// A fixed-iteration malloc(64)+free loop for instruction counting under any
// LD_PRELOAD allocator. Links nothing of memgroup:
//   LD_PRELOAD=LIB valgrind --tool=callgrind ./malloc_loop_callgrind MODE N [fresh]
// Instructions per pair = (Ir(2N) - Ir(N)) / N, which cancels start-up,
// initialisation and the first-call slow paths. Modes:
//   malloc   malloc(64) + free
//   malloc=SIZE  malloc(SIZE) + free (large blocks: malloc=262144)
//   new      ::operator new(64) + ::operator delete(p)
//   sized    ::operator new(64) + ::operator delete(p, 64)
//   burst[=COUNT[xSIZE]]  per iteration, COUNT malloc(SIZE) (default 16384
//            of 64 bytes: 1 MiB, more than the caches hold, so slabs are
//            made and released), then their COUNT frees: instructions per
//            pair = (Ir(2N) - Ir(N)) / (N * COUNT)
// One malloc(64) block is held live across the loop, so that the looping
// block is not the first, page-aligned, region of a fresh slab: jemalloc's
// sized-free fast path declines page-aligned pointers when it is built with
// profiling support (Debian's is), which would make a tight loop measure its
// slow path. `fresh` skips the held block to show that case.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

// Makes the pointer escape so the pair cannot be elided or merged.
inline void Keep(void* p) { asm volatile("" : : "r"(p) : "memory"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && !(argc == 4 && std::strcmp(argv[3], "fresh") == 0)) {
    std::fprintf(
        stderr,
        "usage: %s malloc[=SIZE]|new|sized|burst[=COUNT[xSIZE]] ITERATIONS "
        "[fresh]\n",
        argv[0]);
    return 2;
  }
  const long n = std::strtol(argv[2], nullptr, 10);
  void* held = nullptr;
  if (argc == 3) {
    held = std::malloc(64);
    Keep(held);
  }
  if (std::strncmp(argv[1], "malloc", 6) == 0 &&
      (argv[1][6] == '\0' || argv[1][6] == '=')) {
    const size_t size =
        argv[1][6] == '=' ? std::strtoul(argv[1] + 7, nullptr, 10) : 64;
    for (long i = 0; i < n; ++i) {
      void* p = std::malloc(size);
      Keep(p);
      std::free(p);
    }
  } else if (std::strcmp(argv[1], "new") == 0) {
    for (long i = 0; i < n; ++i) {
      void* p = ::operator new(64);
      Keep(p);
      ::operator delete(p);
    }
  } else if (std::strcmp(argv[1], "sized") == 0) {
    for (long i = 0; i < n; ++i) {
      void* p = ::operator new(64);
      Keep(p);
      ::operator delete(p, 64);
    }
  } else if (std::strncmp(argv[1], "burst", 5) == 0 &&
             (argv[1][5] == '\0' || argv[1][5] == '=')) {
    size_t count = 16384;
    size_t size = 64;
    if (argv[1][5] == '=') {
      char* end = nullptr;
      count = std::strtoul(argv[1] + 6, &end, 10);
      if (*end == 'x') size = std::strtoul(end + 1, nullptr, 10);
    }
    void** blocks = static_cast<void**>(std::malloc(count * sizeof(void*)));
    if (blocks == nullptr) return 1;
    for (long i = 0; i < n; ++i) {
      for (size_t k = 0; k < count; ++k) {
        blocks[k] = std::malloc(size);
        Keep(blocks[k]);
      }
      for (size_t k = 0; k < count; ++k) std::free(blocks[k]);
    }
    std::free(blocks);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  std::free(held);
  return 0;
}
