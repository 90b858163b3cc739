// The charge of glibc's DTV for a new thread, under the preload only
// (alloc_stress_preload_test): what the allocation stress test keeps out of
// its groups by creating every thread from the root group
// (alloc_stress_test.cc's header comment, docs/testing.md).
#include <algorithm>

#include "alloc_stress_support.h"

namespace {

#if MG_STRESS_PRELOAD
// The highest TLS module id of the process: glibc's dtv holds one entry per
// id up to it, plus 14 spare ones and two header entries.
int MaxTlsModuleId() {
  size_t max_id = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) {
        size_t* m = static_cast<size_t*>(arg);
        if (info->dlpi_tls_modid > *m) *m = info->dlpi_tls_modid;
        return 0;
      },
      &max_id);
  return static_cast<int>(max_id);
}

void* Nothing(void*) { return nullptr; }

// What the stress test keeps out of its groups: a thread created from a
// group charges glibc's DTV for it there, (max TLS module id + 16) * 16
// bytes through calloc, and the charge stays after the join (glibc keeps
// the DTV with the stack it caches for reuse). A stack size that no cached
// stack can serve makes glibc allocate a new stack, hence a new DTV; a
// thread that reuses a cached stack reuses its DTV and charges nothing.
TEST(AllocStressTest, DtvOfANewThreadIsChargedToItsCreator) {
  char name[32];
  snprintf(name, sizeof(name), "dtv-%d", static_cast<int>(getpid()));
  mg_group_t creator = 0;
  ASSERT_EQ(0, mg_group_create(mg_root(), name, &creator));
  const size_t dtv_request = (static_cast<size_t>(MaxTlsModuleId()) + 16) * 16;
  void* probe = calloc(1, dtv_request);
  ASSERT_NE(probe, nullptr);
  const int64_t dtv_charge = static_cast<int64_t>(malloc_usable_size(probe));
  free(probe);

  // Larger than any stack the process cached (8 MiB by default), so glibc
  // maps a new one; small enough to stay in glibc's 40 MiB stack cache
  // (a stack the cache cannot hold is freed at the join, DTV included).
  static int round = 0;
  pthread_attr_t attr;
  ASSERT_EQ(0, pthread_attr_init(&attr));
  ASSERT_EQ(0, pthread_attr_setstacksize(&attr, 12 * kMiB + 4096 * ++round));
  ASSERT_EQ(0, mg_thread_set_group(creator));
  ASSERT_EQ(0, Current(creator));
  pthread_t t;
  ASSERT_EQ(0, pthread_create(&t, &attr, Nothing, nullptr));
  ASSERT_EQ(0, pthread_join(t, nullptr));
  const int64_t after = Current(creator);
  ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  pthread_attr_destroy(&attr);
  // A small block is charged by the pages of the creator's first slab of
  // the DTV's class that its first refill crossed (src/engine/slab.h): a
  // page's worth of regions (at least one), after the slab's header and
  // colour (under 2 pages), and the tail of the last page.
  if (dtv_charge < 16 * 1024) {
    EXPECT_GT(after, 0);
    EXPECT_EQ(0, after % 4096);
    EXPECT_LE(after, std::max<int64_t>(dtv_charge, 4096) + 3 * 4096)
        << "DTV request " << dtv_request << " bytes (max TLS module id "
        << MaxTlsModuleId() << ")";
  } else {
    EXPECT_EQ(after, dtv_charge)
        << "DTV request " << dtv_request << " bytes (max TLS module id "
        << MaxTlsModuleId() << ")";
  }
  printf("DTV of a new thread: %zu bytes requested (usable %lld), %lld "
         "charged\n", dtv_request, static_cast<long long>(dtv_charge),
         static_cast<long long>(after));
  EXPECT_EQ(0, mg_group_destroy(creator));
}
#endif

}  // namespace
