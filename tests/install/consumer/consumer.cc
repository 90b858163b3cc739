// An installed memgroup's C++ user: includes memgroup/memgroup.hpp only and
// goes through the C++ layer (absl::StatusOr, absl::StrCat inside the
// header, GroupAllocator). Built by install_test.sh against an installed
// tree, once through find_package(memgroup) and once through pkg-config.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "memgroup/memgroup.hpp"

namespace {

int Fail(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  absl::StatusOr<memgroup::Group> g =
      memgroup::Group::Create(memgroup::Group::Root(), "install-consumer");
  if (!g.ok()) return Fail("create", g.status());
  absl::Status s = g->SetLimit(memgroup::Limit::kMax, 64 << 20);
  if (!s.ok()) return Fail("set limit", s);

  constexpr size_t kBytes = 1 << 20;
  void* block = nullptr;
  {
    memgroup::ScopedGroup in(*g);
    if (!in.ok()) return Fail("scoped group", absl::InternalError("not bound"));
    block = std::malloc(kBytes);
  }
  std::vector<char, memgroup::GroupAllocator<char>> v{
      memgroup::GroupAllocator<char>(*g)};
  v.resize(kBytes);

  absl::StatusOr<int64_t> used = g->Current();
  if (!used.ok()) return Fail("current", used.status());
  absl::StatusOr<std::string> path = g->Path();
  if (!path.ok()) return Fail("path", path.status());
  std::printf("%s: %lld bytes charged\n", path->c_str(),
              static_cast<long long>(*used));
  if (block == nullptr || *used < static_cast<int64_t>(2 * kBytes)) {
    std::fprintf(stderr, "consumer: expected at least %zu bytes charged\n",
                 2 * kBytes);
    return 1;
  }

  // A lookup of a group that does not exist is a NotFound status.
  absl::StatusOr<memgroup::Group> missing =
      memgroup::Group::Lookup("/no-such-group");
  if (missing.ok() || !absl::IsNotFound(missing.status())) {
    std::fprintf(stderr, "consumer: lookup of a missing group: %s\n",
                 missing.status().ToString().c_str());
    return 1;
  }

  std::free(block);
  v = std::vector<char, memgroup::GroupAllocator<char>>{
      memgroup::GroupAllocator<char>(*g)};
  s = g->Destroy();
  if (!s.ok()) return Fail("destroy", s);
  std::printf("ok\n");
  return 0;
}
