/* Shape 3, producer/consumer: one thread allocates blocks of the 64-byte
 * class (49 to 64 bytes), writes into them and passes them through a
 * single-producer single-consumer lock-free ring to a second thread, which
 * reads and frees them: every free is of a block another thread allocated.
 * A fixed number of blocks; prints frees per second.
 * usage: producer_consumer [BLOCKS]   (default 2000000) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "shape_common.h"

enum { kRing = 4096 }; /* a power of two */

/* The ring: head is written by the consumer only, tail by the producer
 * only, each on its own cache line. */
static struct {
  _Alignas(64) atomic_size_t head; /* next slot to read */
  _Alignas(64) atomic_size_t tail; /* next slot to write */
  _Alignas(64) unsigned char* slots[kRing];
} g_ring;

static long g_blocks;
static uint64_t g_checksum;

/* Spins briefly, then yields: the machine may have fewer free cores than
 * threads. */
static void backoff(int* spins) {
  if (++*spins < 64) {
    __builtin_ia32_pause();
  } else {
    *spins = 0;
    sched_yield();
  }
}

static void* consume(void* arg) {
  (void)arg;
  uint64_t sum = 0;
  size_t head = 0;
  for (long n = 0; n < g_blocks; ++n) {
    int spins = 0;
    /* Acquire pairs with the producer's release store of tail: the slot and
     * the block's contents are visible once tail has moved past head. */
    while (atomic_load_explicit(&g_ring.tail, memory_order_acquire) == head) {
      backoff(&spins);
    }
    unsigned char* p = g_ring.slots[head & (kRing - 1)];
    sum += p[0];
    free(p);
    ++head;
    /* Release pairs with the producer's acquire load of head: the slot is
     * read before the producer may overwrite it. */
    atomic_store_explicit(&g_ring.head, head, memory_order_release);
  }
  g_checksum = sum;
  return NULL;
}

int main(int argc, char** argv) {
  g_blocks = shape_arg(argc, argv, 1, 2000000);
  pthread_t consumer;
  const double start = shape_now();
  if (pthread_create(&consumer, NULL, consume, NULL) != 0) {
    fprintf(stderr, "producer_consumer: pthread_create failed\n");
    return 1;
  }
  uint64_t rng = 3, expected = 0;
  size_t tail = 0;
  for (long n = 0; n < g_blocks; ++n) {
    const size_t size = 49 + (size_t)(shape_rand(&rng) & 15);
    unsigned char* p = malloc(size);
    if (p == NULL) {
      fprintf(stderr, "producer_consumer: malloc failed\n");
      return 1;
    }
    p[0] = (unsigned char)n;
    p[size - 1] = (unsigned char)n;
    expected += (unsigned char)n;
    int spins = 0;
    /* Acquire pairs with the consumer's release store of head. */
    while (tail - atomic_load_explicit(&g_ring.head, memory_order_acquire) == kRing) {
      backoff(&spins);
    }
    g_ring.slots[tail & (kRing - 1)] = p;
    ++tail;
    /* Release pairs with the consumer's acquire load of tail. */
    atomic_store_explicit(&g_ring.tail, tail, memory_order_release);
  }
  pthread_join(consumer, NULL);
  const double elapsed = shape_now() - start;
  if (g_checksum != expected) {
    fprintf(stderr, "producer_consumer: checksum mismatch\n");
    return 1;
  }
  shape_result("frees_per_s", (double)g_blocks / elapsed);
  return 0;
}
