// Implements job_member.h: joining the jobs, the charge walk's links, the
// member's slots, stalls and events (what a member does to the other
// members at a refusal is job_others.cc).
//
// SYNCHRONIZATION
// - g_levels, g_chain, g_chain_len and g_head are written at init (before
//   Ready is published with release by src/alloc/init.cc) and in a fork
//   child (one thread); every other access reads them.
// - The shared blocks follow counter/job_block.h; the requests of
//   JobAskOthersForFreePages (job_others.cc) follow its "Control requests".
#include "group/job_member.h"

#include <atomic>
#include <cstdint>

#include "base/raw_log.h"
#include "base/sys.h"
#include "counter/job_events.h"
#include "counter/job_pressure.h"
#include "counter/job_slots.h"
#include "counter/job_stock_area.h"
#include "group/job_groups.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

// One job this process belongs to: level 0 is the job named by
// MEMGROUP_JOB, level k + 1 the job enclosing level k.
struct Level {
  JobView view;
  JobLink link;  // this level's node and slot counters; `up` set by Relink
  uint32_t slot = kNoMember;
  uint32_t depth = 0;  // the block's nesting depth (checked at attach)
};

constinit Level g_levels[kJobMaxLevels];
constinit uint32_t g_level_count = 0;  // levels attached
// The levels with a slot, innermost first: the tree's charge walk.
constinit uint32_t g_chain[kJobMaxLevels] = {};
constinit uint32_t g_chain_len = 0;
// What the counter tree reads: a copy of the first chained level's link
// (its `up` continues the chain), or an inactive link.
constinit JobLink g_head;

// Counts for the cases where a process cannot take part in accounting.
constinit std::atomic<int64_t> g_detached_charge{0};
constinit std::atomic<int64_t> g_detached_peak{0};

// This process as the member slots name it (set by Claim), and whether it
// registered for the global expedited membarrier (JoinJob; inherited by a
// fork child).
constinit pid_t g_self_pid = 0;
constinit uint64_t g_self_start = 0;
constinit bool g_global_barrier = false;

// Level `k`'s slot: for k > 0 it is tagged with the supervisor of level
// k - 1, the child job of level k this process belongs to. `joining`: the
// image is starting (not a fork child), so a parent that started it with
// posix_spawn may be recording it at the same time (JobDropSpawnMarks).
bool Claim(uint32_t k, bool joining) {
  Level* l = &g_levels[k];
  const int32_t child_job =
      k == 0 ? 0 : g_levels[k - 1].view.header()->supervisor_pid;
  const pid_t pid = SysGetpid();
  uint64_t start = 0;
  bool alive = false;
  char comm[16];
  l->slot = kNoMember;
  if (!ReadProcStart(pid, &start, &alive, comm)) return false;
  g_self_pid = pid;
  g_self_start = start;
  bool reused = false;
  uint32_t slot =
      JobClaimMember(l->view, pid, start, comm, &reused, child_job);
  if (slot == kNoMember) {
    // A full table: dead members may hold slots.
    JobReleaseDead(l->view);
    slot = JobClaimMember(l->view, pid, start, comm, &reused, child_job);
  }
  if (slot == kNoMember) return false;
  // A new slot for an image that may have been started by posix_spawn:
  // drops a spawn slot its parent published meanwhile (counter/job_block.h,
  // "Spawned children"). A fork child cannot be one.
  if (joining && !reused) JobDropSpawnMarks(l->view, pid, start, slot);
  l->slot = slot;
  JobMember* m = l->view.member(slot);
  l->link.charged = &m->charged;
  l->link.peak = &m->peak;
  l->link.node = l->view.node();
  l->link.depth = l->depth;
  return true;
}

// The top-level job's block, which holds the stock area, or null.
const JobView* StockArea() {
  if (g_level_count == 0) return nullptr;
  const Level& top = g_levels[g_level_count - 1];
  return top.depth == 0 && top.view.stock_chunks != 0 ? &top.view : nullptr;
}

// ChargeStocks' shared source: a chunk of the stock area for this process.
ThreadStock* SharedStockSource(uint32_t* count) {
  *count = 0;
  const JobView* area = StockArea();
  if (area == nullptr || g_chain_len == 0) return nullptr;
  uint32_t slots[kJobMaxLevels];
  for (uint32_t d = 0; d < kJobMaxLevels; ++d) slots[d] = kNoMember;
  for (uint32_t k = 0; k < g_level_count; ++k) {
    const Level& l = g_levels[k];
    if (l.depth < kJobMaxLevels) slots[l.depth] = l.slot;
  }
  return JobClaimStockChunk(*area, g_self_pid, g_self_start, slots,
                            g_global_barrier, count);
}

// Puts this process's thread stocks in the job's stock area, so that other
// members can revoke them (job_block.h). A previous image of this process
// (an exec) held chunks under the same pid and start time: freed first.
void ShareStocks() {
  const JobView* area = StockArea();
  if (area == nullptr || g_chain_len == 0) return;
  JobReleaseStockChunks(*area, g_self_pid, g_self_start);
  if (!g_global_barrier) g_global_barrier = SysMembarrierRegisterGlobal();
  GlobalRegistry().stocks().SetSharedSource(SharedStockSource);
}

// Rebuilds the charge walk from the levels that hold a slot.
void Relink() {
  const JobLink* up = nullptr;
  g_chain_len = 0;
  for (uint32_t k = 0; k < g_level_count; ++k) {
    if (g_levels[k].slot != kNoMember) g_chain[g_chain_len++] = k;
  }
  for (uint32_t c = g_chain_len; c-- > 0;) {
    JobLink& link = g_levels[g_chain[c]].link;
    link.up = up;
    up = &link;
  }
  if (up != nullptr) {
    g_head = *up;
  } else {
    g_head = JobLink{nullptr, &g_detached_charge, &g_detached_peak, nullptr};
  }
}

// Nothing reaches any slot until the next Relink (a fork child).
void UnlinkAll() {
  g_head = JobLink{nullptr, &g_detached_charge, &g_detached_peak, nullptr};
  for (uint32_t k = 0; k < g_level_count; ++k) g_levels[k].slot = kNoMember;
  g_chain_len = 0;
}

// The level a job-level code names (kJobNode - position in the charge
// walk), or null.
Level* LevelFor(uint32_t refusing) {
  if (!IsJobLevel(refusing)) return nullptr;
  const uint32_t pos = JobLevelIndex(refusing);
  return pos < g_chain_len ? &g_levels[g_chain[pos]] : nullptr;
}

// Attaches the enclosing jobs of level 0, as far as they can be joined.
void AttachEnclosing() {
  while (g_level_count < kJobMaxLevels) {
    const Level& inner = g_levels[g_level_count - 1];
    uint32_t depth = 0;
    char parent[kJobParentPathBytes];
    if (!JobParentOf(inner.view, &depth, parent)) {
      RawLog("job: inconsistent nesting in a job block; the enclosing jobs "
             "are left out");
      return;
    }
    if (depth == 0) return;
    Level& outer = g_levels[g_level_count];
    int err = 0;
    JobError e = JobAttach(parent, &outer.view, &err);
    uint32_t outer_depth = 0;
    char unused[kJobParentPathBytes];
    if (e == JobError::kOk &&
        (!JobParentOf(outer.view, &outer_depth, unused) ||
         outer_depth + 1 != depth)) {
      JobDetach(&outer.view);
      e = JobError::kBadLayout;
    }
    if (e != JobError::kOk) {
      RawLog("job: cannot join the enclosing job %s: %s; this process is "
             "outside its limit",
             parent, JobErrorString(e));
      return;
    }
    outer.depth = outer_depth;
    ++g_level_count;
  }
}

}  // namespace

JobError JoinJob(const char* path, int* err) {
  JobError e = JobAttach(path, &g_levels[0].view, err);
  if (e != JobError::kOk) return e;
  uint32_t depth = 0;
  char unused[kJobParentPathBytes];
  if (!JobParentOf(g_levels[0].view, &depth, unused)) {
    JobDetach(&g_levels[0].view);
    return JobError::kBadLayout;
  }
  g_levels[0].depth = depth;
  g_level_count = 1;
  AttachEnclosing();
  for (uint32_t k = 0; k < g_level_count; ++k) {
    if (!Claim(k, /*joining=*/true)) {
      RawLog("job: no free member slot (or /proc unreadable); this process "
             "runs outside a job's limit");
    }
  }
  Relink();
  ShareStocks();
  return JobError::kOk;
}

const JobLink* JobLinkForTree() { return &g_head; }

bool InJob() { return g_head.node != nullptr; }
JobNode* JobNodeOrNull() { return g_head.node; }

JobNode* JobNodeAt(uint32_t refusing) {
  Level* l = LevelFor(refusing);
  return l == nullptr ? nullptr : l->link.node;
}

uint32_t JobLevels() { return g_chain_len; }

JobMember* JobOwnSlot(uint32_t pos) {
  if (pos >= g_chain_len) return nullptr;
  const Level& l = g_levels[g_chain[pos]];
  return l.slot < l.view.slot_count ? l.view.member(l.slot) : nullptr;
}

bool JobInnermost(const JobView** view, uint32_t* slot, int32_t* pid,
                  uint64_t* start_ticks) {
  if (g_chain_len == 0) return false;
  const Level& l = g_levels[g_chain[0]];
  if (l.slot >= l.view.slot_count) return false;
  *view = &l.view;
  *slot = l.slot;
  *pid = g_self_pid;
  *start_ticks = g_self_start;
  return true;
}

void JobForkChild() {
  if (g_chain_len == 0) return;
  // Until the claims below, nothing may reach the parent's slots.
  UnlinkAll();
  for (uint32_t k = 0; k < g_level_count; ++k) {
    if (!Claim(k, /*joining=*/false)) {
      RawLog("job: no free member slot for the forked child %d; it runs "
             "outside a job's limit",
             static_cast<int>(SysGetpid()));
    }
  }
  Relink();
  // The child's stocks come from chunks of its own (ChargeStocks forgets
  // the parent's in its fork handler); it registers for the global
  // barrier itself rather than rely on inheriting the parent's.
  if (g_global_barrier) g_global_barrier = SysMembarrierRegisterGlobal();
}

void JobNoteExec(const char* path, JobExecMarks* marks) {
  marks->count = 0;
  marks->claimed = false;
  if (g_chain_len == 0 || path == nullptr) return;
  const char* base = path;
  for (const char* c = path; *c != '\0'; ++c) {
    if (*c == '/' && c[1] != '\0') base = c + 1;
  }
  const pid_t pid = SysGetpid();
  marks->pid = pid;
  uint64_t start = 0;
  bool alive = false;
  if (pid != g_self_pid) {
    // A vfork child: the slots in g_levels are its parent's. Only locals
    // and the shared blocks are written from here on.
    if (!ReadProcStart(pid, &start, &alive)) return;
    marks->claimed = true;
  }
  for (uint32_t c = 0; c < g_chain_len; ++c) {
    const uint32_t k = g_chain[c];
    Level* l = &g_levels[k];
    uint32_t slot = l->slot;
    if (marks->claimed) {
      const int32_t child_job =
          k == 0 ? 0 : g_levels[k - 1].view.header()->supervisor_pid;
      bool reused = false;
      slot = JobClaimMember(l->view, pid, start, base, &reused, child_job);
      if (slot == kNoMember) continue;
    }
    JobMarkExec(l->view, slot, base);
    marks->views[marks->count] = &l->view;
    marks->slots[marks->count] = slot;
    ++marks->count;
  }
}

void JobNoteSpawn(pid_t child) {
  if (g_chain_len == 0 || child <= 0) return;
  uint64_t start = 0;
  bool alive = false;
  pid_t ppid = 0;
  char comm[16];
  // The child has exec'd (posix_spawn returns once it has), so /proc names
  // its image. A child reaped already by another thread (its pid maybe
  // reused) is no longer ours: its parent must be this process.
  if (!ReadProcStart(child, &start, &alive, comm, &ppid) ||
      ppid != SysGetpid()) {
    return;
  }
  for (uint32_t c = 0; c < g_chain_len; ++c) {
    const uint32_t k = g_chain[c];
    const int32_t child_job =
        k == 0 ? 0 : g_levels[k - 1].view.header()->supervisor_pid;
    JobMarkSpawned(g_levels[k].view, child, start, comm, child_job);
  }
}

void JobExecFailed(const JobExecMarks& marks) {
  for (uint32_t c = 0; c < marks.count; ++c) {
    JobClearExec(*marks.views[c], marks.slots[c]);
    if (marks.claimed) {
      // No image of the vfork child ran in it: the slot forgets the pid.
      JobReleaseMember(*marks.views[c], marks.slots[c], marks.pid,
                       /*forget=*/true);
    }
  }
}

void JobExitRelease() {
  UnpublishGroups();
  for (uint32_t c = 0; c < g_chain_len; ++c) {
    const Level& l = g_levels[g_chain[c]];
    JobReleaseCharge(l.view, l.slot);
  }
}

void JobNoteStall(bool begin, int64_t now_ns) {
  for (uint32_t c = 0; c < g_chain_len; ++c) {
    const Level& l = g_levels[g_chain[c]];
    if (l.slot >= l.view.slot_count || l.link.node == nullptr) continue;
    JobMember* m = l.view.member(l.slot);
    if (begin) {
      JobStallBegin(l.link.node, m, now_ns);
    } else {
      JobStallEnd(l.link.node, m, now_ns);
    }
  }
}

void JobNoteFullStall(bool stalled, int64_t now_ns) {
  for (uint32_t c = 0; c < g_chain_len; ++c) {
    const Level& l = g_levels[g_chain[c]];
    if (l.slot >= l.view.slot_count || l.link.node == nullptr) continue;
    JobFullChange(l.link.node, l.view.member(l.slot), stalled, now_ns);
  }
}

void RaiseJobEvent(Event e, uint32_t refusing) {
  const Level* l = LevelFor(refusing);
  if (l == nullptr) return;
  uint32_t je;
  switch (e) {
    case kEventMax: je = kJobEventMax; break;
    case kEventOom: je = kJobEventOom; break;
    case kEventOomKill: je = kJobEventOomKill; break;
    case kEventHigh: je = kJobEventHigh; break;
    default: return;
  }
  // The refusing level's link: its `up` chain is the levels enclosing it
  // in the charge walk (Relink), which count the event hierarchically.
  JobRaiseEvent(&l->link, je);
}

uint32_t JobOomPolicy(uint32_t refusing) {
  JobNode* node = JobNodeAt(refusing);
  // Relaxed: configuration written by the creator. Any value is checked by
  // the dispatcher against its table.
  return node == nullptr ? 0 : node->oom_policy.load(std::memory_order_relaxed);
}

int64_t JobOomWaitNs(uint32_t refusing) {
  JobNode* node = JobNodeAt(refusing);
  // Relaxed: as JobOomPolicy.
  return node == nullptr ? -1
                         : node->oom_wait_ns.load(std::memory_order_relaxed);
}

bool JobOomGroup(uint32_t refusing) {
  JobNode* node = JobNodeAt(refusing);
  // Relaxed: as JobOomPolicy.
  return node != nullptr &&
         node->oom_group.load(std::memory_order_relaxed) != 0;
}

const JobView* JobLevelView(uint32_t refusing, uint32_t* own_slot) {
  const Level* l = LevelFor(refusing);
  if (l == nullptr) return nullptr;
  if (own_slot != nullptr) *own_slot = l->slot;
  return &l->view;
}

int64_t JobRevokeOtherStocks(uint32_t refusing) {
  const JobView* area = StockArea();
  Level* l = LevelFor(refusing);
  if (area == nullptr || l == nullptr) return 0;
  // The refusing level and the levels enclosing it, as the charge walk
  // has them.
  JobRevokeLevel levels[kJobMaxLevels];
  uint32_t n = 0;
  for (uint32_t c = JobLevelIndex(refusing); c < g_chain_len; ++c) {
    const Level& k = g_levels[g_chain[c]];
    levels[n++] = JobRevokeLevel{&k.view, k.depth};
  }
  return JobRevokeStocks(*area, levels, n, g_self_pid, g_self_start);
}

uint32_t JobReleaseDeadMembers() {
  uint32_t released = 0;
  for (uint32_t k = 0; k < g_level_count; ++k) {
    released += JobReleaseDead(g_levels[k].view);
  }
  return released;
}

}  // namespace memgroup::internal
