// A C++ plugin loaded with dlopen by dlopen_host.c. It allocates with
// new/delete, std::string and std::vector in its static constructor, in its
// exported function and in its destructor, and makes operator new fail.
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

struct Registry {
  Registry() {
    for (int i = 0; i < 1000; ++i) {
      names.push_back("plugin-entry-" + std::to_string(i));
    }
    table = new int[4096];
    for (int i = 0; i < 4096; ++i) table[i] = i;
  }
  ~Registry() {
    std::string farewell(1000, 'x');  // allocates during unload
    delete[] table;
    names.clear();
    destroyed_len = farewell.size();
  }
  std::vector<std::string> names;
  int* table = nullptr;
  size_t destroyed_len = 0;
};

Registry g_registry;  // dynamic initialisation at dlopen time

}  // namespace

extern "C" __attribute__((visibility("default"))) long plugin_run(int rounds) {
  long sum = 0;
  for (int r = 0; r < rounds; ++r) {
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 200; ++i) {
      auto& v = m[std::to_string(i * 31 % 97) + g_registry.names[i % 1000]];
      v.push_back(i);
    }
    auto owned = std::make_unique<std::vector<long>>(1000, r);
    for (long x : *owned) sum += x;
    for (const auto& [k, v] : m) sum += static_cast<long>(k.size() + v.size());
    std::string* s = new std::string(g_registry.names[r % 1000]);
    s->append(5000, 'y');
    sum += static_cast<long>(s->size()) + g_registry.table[r % 4096];
    delete s;
  }
  return sum;
}

extern "C" __attribute__((visibility("default"))) long plugin_names() {
  return static_cast<long>(g_registry.names.size());
}

namespace {
int g_handler_calls = 0;
char* volatile g_sink = nullptr;
void ThrowOnSecondCall() {
  if (++g_handler_calls == 2) throw std::bad_alloc();
}
}  // namespace

// Requests that cannot succeed (1 TiB): new throws std::bad_alloc (bit 1);
// the nothrow forms, plain and aligned, return nullptr after a new_handler
// that throws on its second call ran twice (bits 2 and 4). Under the
// preload the host's C++ runtime is this plugin's, loaded RTLD_LOCAL.
extern "C" __attribute__((visibility("default"))) long plugin_fail_new() {
  constexpr size_t kHuge = size_t{1} << 40;
  long ok = 0;
  try {
    g_sink = new char[kHuge];  // kept, so the compiler cannot elide it
    delete[] g_sink;
  } catch (const std::bad_alloc&) {
    ok |= 1;
  }
  std::set_new_handler(ThrowOnSecondCall);
  g_handler_calls = 0;
  if (::operator new(kHuge, std::nothrow) == nullptr && g_handler_calls == 2) {
    ok |= 2;
  }
  g_handler_calls = 0;
  if (::operator new(kHuge, std::align_val_t{64}, std::nothrow) == nullptr &&
      g_handler_calls == 2) {
    ok |= 4;
  }
  std::set_new_handler(nullptr);
  return ok;
}
