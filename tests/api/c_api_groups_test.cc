// The C ABI's group calls through libmemgroup.so (binary c_api_test):
// errors (malformed names, duplicates, destroyed ids, null outputs) and
// limits (defaults, set and get).
#include "c_api_fixture.h"

namespace mg_capi_test {
namespace {

// --- Errors -----------------------------------------------------------------

TEST_F(CApiTest, CreateRejectsMalformedNamesWithEinval) {
  mg_group_t g = 0;
  EXPECT_EQ(EINVAL, mg_group_create(root_, nullptr, &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "a/b", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "has space", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "bang!", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, std::string(64, 'x').c_str(), &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "fine", nullptr));
  EXPECT_EQ(0u, g);
}

TEST_F(CApiTest, CreateAcceptsEveryAllowedCharacterUpTo63Bytes) {
  std::string name = "Az09._-" + std::string(56, 'q');
  ASSERT_EQ(63u, name.size());
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_group_create(root_, name.c_str(), &g));
  groups_.push_back(g);
  EXPECT_NE(0u, g);
  char path[128];
  ASSERT_EQ(0, mg_group_path(g, path, sizeof(path)));
  EXPECT_EQ("/" + name, std::string(path));
}

TEST_F(CApiTest, CreateDuplicateSiblingNameReturnsEexist) {
  mg_group_t a = Make();
  char path[128];
  ASSERT_EQ(0, mg_group_path(a, path, sizeof(path)));
  mg_group_t b = 0;
  EXPECT_EQ(EEXIST, mg_group_create(root_, path + 1, &b));
  // The same name under another parent is fine.
  mg_group_t child = 0;
  ASSERT_EQ(0, mg_group_create(a, path + 1, &child));
  groups_.push_back(child);
}

TEST_F(CApiTest, LookupFindsNestedPathAndReportsEnoentAndEinval) {
  mg_group_t a = Make();
  mg_group_t b = Make(a);
  char pa[128], pb[256];
  ASSERT_EQ(0, mg_group_path(a, pa, sizeof(pa)));
  ASSERT_EQ(0, mg_group_path(b, pb, sizeof(pb)));
  EXPECT_EQ(std::string(pa) + "/", std::string(pb).substr(0, strlen(pa) + 1));
  mg_group_t found = 0;
  ASSERT_EQ(0, mg_group_lookup(pb, &found));
  EXPECT_EQ(b, found);
  ASSERT_EQ(0, mg_group_lookup("/", &found));
  EXPECT_EQ(root_, found);
  EXPECT_EQ(ENOENT, mg_group_lookup("/no-such-group-here", &found));
  EXPECT_EQ(EINVAL, mg_group_lookup(pb, nullptr));
  EXPECT_EQ(EINVAL, mg_group_lookup(nullptr, &found));
}

TEST_F(CApiTest, RootPathIsSlash) {
  char path[8];
  ASSERT_EQ(0, mg_group_path(root_, path, sizeof(path)));
  EXPECT_STREQ("/", path);
  EXPECT_EQ(EINVAL, mg_group_path(root_, nullptr, 8));
  EXPECT_EQ(EINVAL, mg_group_path(root_, path, 0));
}

TEST_F(CApiTest, DestroyGroupWithChildrenReturnsEbusy) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  EXPECT_EQ(EBUSY, mg_group_destroy(parent));
  EXPECT_EQ(0, mg_group_destroy(child));
  EXPECT_EQ(0, mg_group_destroy(parent));
}

TEST_F(CApiTest, DestroyRootReturnsEbusy) {
  EXPECT_EQ(EBUSY, mg_group_destroy(root_));
}

TEST_F(CApiTest, ZeroIsNeverAValidGroup) {
  int64_t v;
  mg_group_t g;
  EXPECT_EQ(ENOENT, mg_group_current(0, 0, &v));
  EXPECT_EQ(ENOENT, mg_group_create(0, "x", &g));
  EXPECT_EQ(ENOENT, mg_thread_set_group(0));
}

TEST_F(CApiTest, EveryCallOnADestroyedGroupReturnsEnoent) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_destroy(g));
  void* block = malloc(64);
  ASSERT_NE(nullptr, block);
  int64_t v = 0;
  mg_events_t ev;
  mg_stat_t st;
  mg_pressure_t pr;
  mg_group_t out;
  char buf[64];
  int h;
  EXPECT_EQ(ENOENT, mg_group_create(g, "child", &out));
  EXPECT_EQ(ENOENT, mg_group_destroy(g));
  EXPECT_EQ(ENOENT, mg_group_path(g, buf, sizeof(buf)));
  EXPECT_EQ(ENOENT, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  EXPECT_EQ(ENOENT, mg_group_get_limit(g, MG_LIMIT_MAX, &v));
  EXPECT_EQ(ENOENT, mg_group_set_oom_policy(g, MG_OOM_ENOMEM, 0));
  EXPECT_EQ(ENOENT, mg_group_set_oom_handler(g, nullptr, nullptr));
  EXPECT_EQ(ENOENT, mg_reclaim_register(g, &Cache::Reclaim, nullptr, &h));
  EXPECT_EQ(ENOENT, mg_group_reclaim(g, 4096, &v));
  EXPECT_EQ(ENOENT, mg_thread_set_group(g));
  EXPECT_EQ(ENOENT, mg_charge(g, 4096));
  EXPECT_EQ(ENOENT, mg_uncharge(g, 4096));
  EXPECT_EQ(ENOENT, mg_transfer(&block, g));
  EXPECT_EQ(ENOENT, mg_group_current(g, 1, &v));
  EXPECT_EQ(ENOENT, mg_group_peak(g, &v));
  EXPECT_EQ(ENOENT, mg_group_reset_peak(g));
  EXPECT_EQ(ENOENT, mg_group_failcnt(g, &v));
  EXPECT_EQ(ENOENT, mg_group_events(g, 0, &ev));
  EXPECT_EQ(ENOENT, mg_group_stat(g, &st));
  EXPECT_EQ(ENOENT, mg_group_pressure(g, &pr));
  EXPECT_EQ(ENOENT,
            mg_threshold_register(
                g, kMiB, [](mg_group_t, int64_t, int, void*) {}, nullptr, &h));
  EXPECT_EQ(ENOENT, mg_pressure_register(
                        g, MG_PRESSURE_LOW, [](mg_group_t, int, void*) {},
                        nullptr, &h));
  errno = 0;
  EXPECT_EQ(nullptr, mg_malloc_in(g, 64));
  EXPECT_EQ(ENOENT, errno);
  free(block);
}

TEST_F(CApiTest, DestroyedIdStaysInvalidAfterTheNameIsReused) {
  std::vector<mg_group_t> old;
  old.reserve(64);
  for (int i = 0; i < 50; ++i) {
    mg_group_t g = 0;
    ASSERT_EQ(0, mg_group_create(root_, "reused-name", &g));
    for (mg_group_t o : old) ASSERT_NE(o, g);
    ASSERT_EQ(0, mg_group_destroy(g));
    old.push_back(g);
  }
  int64_t v;
  for (mg_group_t o : old) EXPECT_EQ(ENOENT, mg_group_current(o, 0, &v));
}

TEST_F(CApiTest, NullOutputsAndNegativeSizesReturnEinval) {
  mg_group_t g = Make();
  int h = 0;
  EXPECT_EQ(EINVAL, mg_group_current(g, 0, nullptr));
  EXPECT_EQ(EINVAL, mg_group_peak(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_failcnt(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_events(g, 0, nullptr));
  EXPECT_EQ(EINVAL, mg_group_stat(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_pressure(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_get_limit(g, MG_LIMIT_MAX, nullptr));
  EXPECT_EQ(EINVAL, mg_thread_get_group(nullptr));
  EXPECT_EQ(EINVAL, mg_block_group(nullptr, &g));
  void* p = malloc(16);
  EXPECT_EQ(EINVAL, mg_block_group(p, nullptr));
  free(p);
  int64_t released;
  EXPECT_EQ(EINVAL, mg_group_reclaim(g, 4096, nullptr));
  EXPECT_EQ(EINVAL, mg_group_reclaim(g, -1, &released));
  EXPECT_EQ(EINVAL, mg_reclaim_register(g, nullptr, nullptr, &h));
  EXPECT_EQ(EINVAL, mg_reclaim_register(g, &Cache::Reclaim, nullptr, nullptr));
  EXPECT_EQ(EINVAL, mg_threshold_register(g, kMiB, nullptr, nullptr, &h));
  EXPECT_EQ(EINVAL, mg_threshold_register(
                        g, -1, [](mg_group_t, int64_t, int, void*) {}, nullptr,
                        &h));
  EXPECT_EQ(EINVAL, mg_pressure_register(g, 0, [](mg_group_t, int, void*) {},
                                         nullptr, &h));
  EXPECT_EQ(EINVAL, mg_pressure_register(g, 4, [](mg_group_t, int, void*) {},
                                         nullptr, &h));
  EXPECT_EQ(EINVAL, mg_transfer(nullptr, g));
  void* null_block = nullptr;
  EXPECT_EQ(EINVAL, mg_transfer(&null_block, g));
  // Sizes.
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, MG_LIMIT_MAX, -1));
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, MG_LIMIT_HIGH, -4096));
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, static_cast<mg_limit_t>(9), kMiB));
  int64_t v;
  EXPECT_EQ(EINVAL, mg_group_get_limit(g, static_cast<mg_limit_t>(9), &v));
  EXPECT_EQ(EINVAL, mg_charge(g, -1));
  EXPECT_EQ(EINVAL, mg_uncharge(g, -1));
  // Policies.
  EXPECT_EQ(EINVAL,
            mg_group_set_oom_policy(g, static_cast<mg_oom_policy_t>(5), -1));
  EXPECT_EQ(EINVAL,
            mg_group_set_oom_policy(g, static_cast<mg_oom_policy_t>(-1), -1));
  EXPECT_EQ(EINVAL, mg_group_set_oom_policy(g, MG_OOM_WAIT, -2));
}

TEST_F(CApiTest, UnregisteringUnknownHandlesFails) {
  EXPECT_NE(0, mg_reclaim_unregister(0));
  EXPECT_NE(0, mg_reclaim_unregister(123456));
  EXPECT_NE(0, mg_threshold_unregister(-3));
  EXPECT_NE(0, mg_pressure_unregister(999999));
  mg_group_t g = Make();
  Cache c;
  int h = 0;
  ASSERT_EQ(0, mg_reclaim_register(g, &Cache::Reclaim, &c, &h));
  EXPECT_EQ(0, mg_reclaim_unregister(h));
  EXPECT_NE(0, mg_reclaim_unregister(h));  // twice
}

// --- Limits -----------------------------------------------------------------

TEST_F(CApiTest, NewGroupStartsUnlimitedWithoutProtection) {
  mg_group_t g = Make();
  int64_t v = -1;
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MAX, &v));
  EXPECT_EQ(MG_UNLIMITED, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_HIGH, &v));
  EXPECT_EQ(MG_UNLIMITED, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_LOW, &v));
  EXPECT_EQ(0, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MIN, &v));
  EXPECT_EQ(0, v);
}

TEST_F(CApiTest, LimitsRoundTripThroughSetAndGet) {
  mg_group_t g = Make();
  const struct {
    mg_limit_t which;
    int64_t value;
  } cases[] = {{MG_LIMIT_MAX, 64 * kMiB},  {MG_LIMIT_HIGH, 48 * kMiB},
               {MG_LIMIT_LOW, 8 * kMiB},   {MG_LIMIT_MIN, 4 * kMiB},
               {MG_LIMIT_MAX, 12345},      {MG_LIMIT_MAX, MG_UNLIMITED},
               {MG_LIMIT_HIGH, MG_UNLIMITED}, {MG_LIMIT_LOW, 0},
               {MG_LIMIT_MIN, 0}};
  for (const auto& c : cases) {
    ASSERT_EQ(0, mg_group_set_limit(g, c.which, c.value));
    int64_t v = -1;
    ASSERT_EQ(0, mg_group_get_limit(g, c.which, &v));
    EXPECT_EQ(c.value, v) << "limit " << c.which;
  }
}

}  // namespace
}  // namespace mg_capi_test
