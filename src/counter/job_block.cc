// Implements job_block.h: creating, validating and attaching the job control
// block (the member slots are in job_slots.cc, the control requests in
// job_control.cc, the stock area in job_stock_area.cc). Raw system calls
// only (src/base/sys.h): members attach inside their first malloc.
// Allocates: never.
//
// SYNCHRONIZATION: the creator writes the header whole and stores the magic
// last (release); members open the file only after JobCreate returned, and
// JobValidate checks the magic before it trusts the header and copies what
// it bounds (JobView). The member slots' protocol is in job_slots.cc.
#include "counter/job_block.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <new>

#include "base/sys.h"
#include "counter/job_group_table.h"
#include "counter/job_pressure.h"

namespace memgroup::internal {
const char* JobErrorString(JobError e) {
  switch (e) {
    case JobError::kOk: return "ok";
    case JobError::kOpen: return "cannot open it";
    case JobError::kNotRegular: return "not a regular file";
    case JobError::kNotOwner: return "owned by another user";
    case JobError::kBadMode: return "its mode is not 0600";
    case JobError::kTooSmall: return "too small for a job block";
    case JobError::kBadMagic: return "not a memgroup job block";
    case JobError::kBadVersion: return "unsupported job block version";
    case JobError::kBadLayout: return "inconsistent job block layout";
    case JobError::kMap: return "cannot map it";
    case JobError::kExists: return "it already exists";
    case JobError::kCreate: return "cannot create it";
  }
  return "unknown error";
}

namespace {

// The nesting fields of a header snapshot.
bool NestingValid(const JobHeader& h) {
  if (h.depth >= kJobMaxLevels) return false;
  size_t n = strnlen(h.parent_path, kJobParentPathBytes);
  if (n == kJobParentPathBytes) return false;  // no NUL
  return h.depth == 0 ? n == 0 : (n > 0 && h.parent_path[0] == '/');
}

}  // namespace

bool JobParentOf(const JobView& v, uint32_t* depth,
                 char parent_path[kJobParentPathBytes]) {
  JobHeader h;
  memcpy(&h, v.base, sizeof(h));  // one snapshot: no re-read after checking
  if (!NestingValid(h)) return false;
  *depth = h.depth;
  memcpy(parent_path, h.parent_path, kJobParentPathBytes);
  return true;
}

JobError JobValidate(const uint8_t* base, size_t bytes, uint32_t* slot_count,
                     uint32_t* stock_chunks, uint32_t* group_entries) {
  if (bytes < kJobHeaderBytes) return JobError::kTooSmall;
  JobHeader h;
  memcpy(&h, base, sizeof(h));  // one snapshot: no re-read after checking
  if (h.magic != kJobMagic) return JobError::kBadMagic;
  if (h.version != kJobVersion) return JobError::kBadVersion;
  if (h.header_bytes != kJobHeaderBytes || h.slot_count == 0 ||
      h.slot_count > kJobMaxSlots || h.stock_chunks > kJobMaxStockChunks ||
      (h.stock_chunks != 0 && h.depth != 0) ||
      h.stock_offset != (h.stock_chunks == 0 ? 0 : JobStockOffset(h.slot_count)) ||
      h.group_entries > kJobMaxGroupEntries ||
      h.total_bytes !=
          JobBlockBytes(h.slot_count, h.stock_chunks, h.group_entries) ||
      h.total_bytes != bytes || !NestingValid(h)) {
    return JobError::kBadLayout;
  }
  *slot_count = h.slot_count;
  if (stock_chunks != nullptr) *stock_chunks = h.stock_chunks;
  if (group_entries != nullptr) *group_entries = h.group_entries;
  return JobError::kOk;
}

JobError JobCreate(const char* path, const JobParams& params, JobView* view,
                   int* err) {
  *err = 0;
  const size_t parent_len = strlen(params.parent_path);
  if (params.slot_count == 0 || params.slot_count > kJobMaxSlots ||
      params.depth >= kJobMaxLevels || parent_len >= kJobParentPathBytes ||
      (params.depth == 0) != (parent_len == 0) ||
      params.stock_chunks > kJobMaxStockChunks ||
      (params.stock_chunks != 0 && params.depth != 0) ||
      params.group_entries > kJobMaxGroupEntries) {
    return JobError::kBadLayout;
  }
  int fd = SysOpen(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   0600);
  if (fd < 0) {
    *err = errno;
    return errno == EEXIST ? JobError::kExists : JobError::kCreate;
  }
  // A sparse file: the stock area's pages exist once a member claims them.
  const uint64_t bytes = JobBlockBytes(params.slot_count, params.stock_chunks,
                                       params.group_entries);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    *err = errno;
    SysClose(fd);
    unlink(path);
    return JobError::kCreate;
  }
  void* p = SysMmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  SysClose(fd);
  if (p == MAP_FAILED) {
    *err = errno;
    unlink(path);
    return JobError::kMap;
  }
  // A fresh file reads as zeros: every member slot is Free, every counter 0.
  auto* base = static_cast<uint8_t*>(p);
  JobView v{base, bytes, params.slot_count, params.stock_chunks,
            params.group_entries};
  JobNode* node = v.node();
  new (&node->counter) PageCounter();
  CounterTree(&node->counter, 1).InitNode(0, kNoParent);
  // Relaxed: nobody else maps the block before the header below is written
  // and the path is handed to the program.
  node->counter.max.store(params.max, std::memory_order_relaxed);
  node->counter.high.store(params.high, std::memory_order_relaxed);
  node->oom_policy.store(params.oom_policy, std::memory_order_relaxed);
  node->oom_wait_ns.store(params.oom_wait_ns, std::memory_order_relaxed);
  node->oom_group.store(params.oom_group ? 1 : 0, std::memory_order_relaxed);
  node->counter.min.store(params.min, std::memory_order_relaxed);
  node->counter.low.store(params.low, std::memory_order_relaxed);
  // The `full` stamp starts now, not at 0 (job_pressure.h).
  JobFullInit(node, MonotonicNanos());
  JobHeader* h = v.header();
  h->version = kJobVersion;
  h->header_bytes = kJobHeaderBytes;
  h->total_bytes = bytes;
  h->slot_count = params.slot_count;
  h->supervisor_pid = params.supervisor_pid;
  h->start_ticks = params.start_ticks;
  h->start_unix_ns = params.start_unix_ns;
  size_t n = strnlen(params.command, kJobCommandBytes - 1);
  memcpy(h->command, params.command, n);
  h->command[n] = '\0';
  h->depth = params.depth;
  h->group_entries = params.group_entries;
  memcpy(h->parent_path, params.parent_path, parent_len + 1);
  h->stock_chunks = params.stock_chunks;
  h->stock_offset = params.stock_chunks == 0
                        ? 0
                        : static_cast<uint32_t>(
                              JobStockOffset(params.slot_count));
  // Release: the magic is written last; a reader that validates it sees a
  // complete header (members open the file only after creation anyway).
  std::atomic_ref<uint64_t>(h->magic).store(kJobMagic,
                                            std::memory_order_release);
  *view = v;
  return JobError::kOk;
}

JobError JobAttach(const char* path, JobView* view, int* err) {
  *err = 0;
  int fd = SysOpen(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return errno == ELOOP ? JobError::kNotRegular : JobError::kOpen;
  }
  struct stat st;
  if (SysFstat(fd, &st) != 0) {
    *err = errno;
    SysClose(fd);
    return JobError::kOpen;
  }
  JobError e = JobError::kOk;
  if (!S_ISREG(st.st_mode)) {
    e = JobError::kNotRegular;
  } else if (st.st_uid != SysGetuid()) {
    e = JobError::kNotOwner;
  } else if ((st.st_mode & 07777) != 0600) {
    e = JobError::kBadMode;
  } else if (st.st_size < static_cast<off_t>(kJobHeaderBytes) ||
             st.st_size > static_cast<off_t>(kJobMaxBlockBytes)) {
    e = st.st_size < static_cast<off_t>(kJobHeaderBytes) ? JobError::kTooSmall
                                                         : JobError::kBadLayout;
  }
  if (e != JobError::kOk) {
    SysClose(fd);
    return e;
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  void* p = SysMmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  SysClose(fd);
  if (p == MAP_FAILED) {
    *err = errno;
    return JobError::kMap;
  }
  uint32_t slots = 0;
  uint32_t chunks = 0;
  uint32_t groups = 0;
  e = JobValidate(static_cast<const uint8_t*>(p), bytes, &slots, &chunks,
                  &groups);
  if (e != JobError::kOk) {
    SysMunmap(p, bytes);
    return e;
  }
  *view = JobView{static_cast<uint8_t*>(p), bytes, slots, chunks, groups};
  return JobError::kOk;
}

void JobDetach(JobView* view) {
  if (view->base != nullptr) SysMunmap(view->base, view->map_bytes);
  *view = JobView{};
}

}  // namespace memgroup::internal
