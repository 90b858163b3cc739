// memgroup C++ layer: RAII group handles, scoped thread tagging, reclaim
// callbacks as callables, and an STL allocator that charges a given group,
// over the C ABI of memgroup.h. Errors are absl::Status with canonical codes:
// kInvalidArgument (malformed name or size), kNotFound (unknown or stale
// group), kAlreadyExists, kFailedPrecondition (group has children),
// kResourceExhausted (no group id left, or a charge refused by a limit).
//
// Header-only. Not for use inside reclaim callbacks' hot loops: building a
// Status with a message allocates.
#ifndef MEMGROUP_MEMGROUP_HPP_
#define MEMGROUP_MEMGROUP_HPP_

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "memgroup/memgroup.h"

namespace memgroup {

// Maps a memgroup.h errno value to a canonical absl::Status.
inline absl::Status StatusFromErrno(int err, absl::string_view what) {
  switch (err) {
    case 0:
      return absl::OkStatus();
    case EINVAL:
      return absl::InvalidArgumentError(what);
    case ENOENT:
      return absl::NotFoundError(what);
    case EEXIST:
      return absl::AlreadyExistsError(what);
    case EBUSY:
      return absl::FailedPreconditionError(what);
    case ENOSPC:
    case ENOMEM:
      return absl::ResourceExhaustedError(what);
    default:
      return absl::InternalError(absl::StrCat(what, " (errno ", err, ")"));
  }
}

enum class Limit { kMax = MG_LIMIT_MAX, kHigh = MG_LIMIT_HIGH,
                   kLow = MG_LIMIT_LOW, kMin = MG_LIMIT_MIN };

// A group. Owning handles (from Create) destroy the group when they go out
// of scope; borrowed handles (Root, Lookup) never do.
class Group {
 public:
  // Creates `name` under `parent`; the returned handle owns the group.
  static absl::StatusOr<Group> Create(const Group& parent,
                                      absl::string_view name) {
    mg_group_t id = 0;
    std::string n(name);
    int err = mg_group_create(parent.id_, n.c_str(), &id);
    if (err != 0) {
      return StatusFromErrno(err, absl::StrCat("create group '", name, "'"));
    }
    return Group(id, /*owned=*/true);
  }
  static Group Root() { return Group(mg_root(), false); }
  static absl::StatusOr<Group> Lookup(absl::string_view path) {
    mg_group_t id = 0;
    std::string p(path);
    int err = mg_group_lookup(p.c_str(), &id);
    if (err != 0) return StatusFromErrno(err, absl::StrCat("group ", path));
    return Group(id, false);
  }
  // The calling thread's current group (borrowed).
  static Group OfThisThread() {
    mg_group_t id = 0;
    mg_thread_get_group(&id);
    return Group(id, false);
  }

  Group(Group&& other) noexcept
      : id_(std::exchange(other.id_, 0)), owned_(other.owned_) {}
  Group& operator=(Group&& other) noexcept {
    if (this != &other) {
      Reset();
      id_ = std::exchange(other.id_, 0);
      owned_ = other.owned_;
    }
    return *this;
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group() { Reset(); }

  // A borrowed handle to the same group.
  Group Borrow() const { return Group(id_, false); }
  mg_group_t id() const { return id_; }

  absl::Status SetLimit(Limit which, int64_t bytes) const {
    return StatusFromErrno(
        mg_group_set_limit(id_, static_cast<mg_limit_t>(which), bytes),
        "set limit");
  }
  absl::StatusOr<int64_t> GetLimit(Limit which) const {
    int64_t v = 0;
    int err = mg_group_get_limit(id_, static_cast<mg_limit_t>(which), &v);
    if (err != 0) return StatusFromErrno(err, "get limit");
    return v;
  }
  absl::Status SetOomPolicy(mg_oom_policy_t policy,
                            int64_t timeout_ms = -1) const {
    return StatusFromErrno(mg_group_set_oom_policy(id_, policy, timeout_ms),
                           "set OOM policy");
  }
  // Exact usage (stocks drained first).
  absl::StatusOr<int64_t> Current() const {
    int64_t v = 0;
    int err = mg_group_current(id_, 1, &v);
    if (err != 0) return StatusFromErrno(err, "current");
    return v;
  }
  absl::StatusOr<int64_t> Peak() const {
    int64_t v = 0;
    int err = mg_group_peak(id_, &v);
    if (err != 0) return StatusFromErrno(err, "peak");
    return v;
  }
  absl::StatusOr<mg_events_t> Events(bool local = false) const {
    mg_events_t e{};
    int err = mg_group_events(id_, local ? 1 : 0, &e);
    if (err != 0) return StatusFromErrno(err, "events");
    return e;
  }
  absl::StatusOr<mg_stat_t> Stat() const {
    mg_stat_t s{};
    int err = mg_group_stat(id_, &s);
    if (err != 0) return StatusFromErrno(err, "stat");
    return s;
  }
  absl::StatusOr<std::string> Path() const {
    char buf[1024];
    int err = mg_group_path(id_, buf, sizeof(buf));
    if (err != 0) return StatusFromErrno(err, "path");
    return std::string(buf);
  }
  // Proactive reclaim; returns the bytes released.
  absl::StatusOr<int64_t> Reclaim(int64_t bytes) const {
    int64_t released = 0;
    int err = mg_group_reclaim(id_, bytes, &released);
    if (err != 0) return StatusFromErrno(err, "reclaim");
    return released;
  }
  // Destroys an owned group now (the destructor does it otherwise).
  absl::Status Destroy() {
    if (id_ == 0) return absl::FailedPreconditionError("empty group handle");
    int err = mg_group_destroy(id_);
    if (err == 0) id_ = 0;
    return StatusFromErrno(err, "destroy group");
  }

 private:
  Group(mg_group_t id, bool owned) : id_(id), owned_(owned) {}
  void Reset() {
    if (owned_ && id_ != 0) mg_group_destroy(id_);
    id_ = 0;
  }

  mg_group_t id_ = 0;
  bool owned_ = false;
};

// Tags the calling thread with `group` for the scope; restores on exit.
class ScopedGroup {
 public:
  explicit ScopedGroup(const Group& group) {
    mg_thread_get_group(&previous_);
    ok_ = mg_thread_set_group(group.id()) == 0;
  }
  ~ScopedGroup() {
    if (ok_) mg_thread_set_group(previous_);
  }
  ScopedGroup(const ScopedGroup&) = delete;
  ScopedGroup& operator=(const ScopedGroup&) = delete;
  bool ok() const { return ok_; }

 private:
  mg_group_t previous_ = 0;
  bool ok_ = false;
};

// A reclaim callback registration holding a callable. The callable gets the
// target in bytes and returns the bytes it released; an exception thrown
// from it counts as "released nothing".
class Reclaimer {
 public:
  using Fn = std::function<int64_t(int64_t target_bytes)>;
  static absl::StatusOr<std::unique_ptr<Reclaimer>> Register(const Group& g,
                                                             Fn fn) {
    std::unique_ptr<Reclaimer> r(new Reclaimer(std::move(fn)));
    int err = mg_reclaim_register(g.id(), &Reclaimer::Trampoline, r.get(),
                                  &r->handle_);
    if (err != 0) return StatusFromErrno(err, "register reclaimer");
    return r;
  }
  ~Reclaimer() {
    if (handle_ != 0) mg_reclaim_unregister(handle_);
  }
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

 private:
  explicit Reclaimer(Fn fn) : fn_(std::move(fn)) {}
  static int64_t Trampoline(mg_group_t, int64_t target, void* arg) {
    try {
      return static_cast<Reclaimer*>(arg)->fn_(target);
    } catch (...) {
      return 0;
    }
  }
  Fn fn_;
  int handle_ = 0;
};

// An STL allocator whose blocks are charged to a given group, whichever
// thread allocates. Throws std::bad_alloc when the group refuses.
template <typename T>
class GroupAllocator {
 public:
  using value_type = T;
  explicit GroupAllocator(const Group& g) noexcept : group_(g.id()) {}
  template <typename U>
  GroupAllocator(const GroupAllocator<U>& o) noexcept : group_(o.group()) {}
  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    void* p = mg_malloc_in(group_, n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { free(p); }
  mg_group_t group() const noexcept { return group_; }
  template <typename U>
  bool operator==(const GroupAllocator<U>& o) const noexcept {
    return group_ == o.group();
  }

 private:
  mg_group_t group_;
};

}  // namespace memgroup

#endif  // MEMGROUP_MEMGROUP_HPP_
