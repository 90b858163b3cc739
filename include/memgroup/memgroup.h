/* memgroup: per-group memory limits for a process, with Linux memory-cgroup
 * semantics (charge, max, high, low, min, events), as a C11 ABI.
 *
 * Every call returns 0 or a positive errno value:
 *   EINVAL  malformed argument (name, size, policy)
 *   ENOENT  unknown or stale group id (a destroyed group's id never becomes
 *           valid again)
 *   EEXIST  a sibling already has that name
 *   EBUSY   the group has children, or the operation is not allowed on "/"
 *   ENOSPC  no group id left
 *   ENOMEM  a charge was refused by a limit
 * All calls are thread-safe. Sizes are bytes; MG_UNLIMITED means "max".
 * Linking libmemgroup.so also replaces malloc/free/new/delete/mmap for the
 * program: every block is charged to the calling thread's current group.
 */
#ifndef MEMGROUP_MEMGROUP_H_
#define MEMGROUP_MEMGROUP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A group handle: slot index and generation. 0 is never a valid group. */
typedef uint64_t mg_group_t;

#define MG_UNLIMITED INT64_MAX

typedef enum mg_limit {
  MG_LIMIT_MAX = 0,  /* hard limit: charges above it fail (OOM policy) */
  MG_LIMIT_HIGH = 1, /* throttle limit: never fails, delays the thread */
  MG_LIMIT_LOW = 2,  /* best-effort protection from reclaim */
  MG_LIMIT_MIN = 3,  /* hard protection from reclaim */
} mg_limit_t;

typedef enum mg_oom_policy {
  MG_OOM_ENOMEM = 0, /* the allocation fails (NULL/ENOMEM, bad_alloc) */
  MG_OOM_ABORT = 1,  /* report to stderr, then abort() */
  MG_OOM_KILL = 2,   /* report to stderr, then SIGKILL the process */
  MG_OOM_WAIT = 3,   /* block until the charge fits or the timeout passes */
} mg_oom_policy_t;

typedef struct mg_events {
  uint64_t low, high, max, oom, oom_kill, oom_group_kill;
} mg_events_t;

/* --- Groups ------------------------------------------------------------ */

/* The root group "/" (the whole process). */
mg_group_t mg_root(void);
/* Creates `name` ([A-Za-z0-9._-], 1..63 bytes) under `parent`. New groups
 * start with max = high = MG_UNLIMITED and low = min = 0. */
int mg_group_create(mg_group_t parent, const char* name, mg_group_t* out);
/* Finds a group by path, e.g. "/tenants/a". */
int mg_group_lookup(const char* path, mg_group_t* out);
/* Destroys a group without children. Blocks still charged to it stay
 * charged to its ancestors until freed; threads in it move to its parent. */
int mg_group_destroy(mg_group_t group);
/* Writes the group's path ("/a/b") into buf (NUL-terminated). */
int mg_group_path(mg_group_t group, char* buf, size_t cap);

/* --- Limits ------------------------------------------------------------ */

/* Sets a limit. A max below current usage is allowed (cgroup v2): stocks
 * are drained at once and later charges fail until usage falls. Raising a
 * limit wakes threads waiting under MG_OOM_WAIT. */
int mg_group_set_limit(mg_group_t group, mg_limit_t which, int64_t bytes);
int mg_group_get_limit(mg_group_t group, mg_limit_t which, int64_t* bytes);
/* timeout_ms applies to MG_OOM_WAIT only; -1 waits forever. */
int mg_group_set_oom_policy(mg_group_t group, mg_oom_policy_t policy,
                            int64_t timeout_ms);

/* --- Threads ----------------------------------------------------------- */

/* Moves the calling thread: its future allocations are charged to `group`;
 * what it already holds stays charged where it was. */
int mg_thread_set_group(mg_group_t group);
int mg_thread_get_group(mg_group_t* out);

/* --- Accounting -------------------------------------------------------- */

/* Charges memory obtained elsewhere (GPU buffers, file caches). Follows the
 * group's limits and OOM policy; ENOMEM when refused. */
int mg_charge(mg_group_t group, int64_t bytes);
int mg_uncharge(mg_group_t group, int64_t bytes);
/* Allocates in `group` without moving the thread. Free with free(). */
void* mg_malloc_in(mg_group_t group, size_t size);
/* Moves a block's charge to `to`. Blocks live in their group's memory, so
 * the block is moved: *block is replaced by the new address. */
int mg_transfer(void** block, mg_group_t to);
/* The group a block is charged to. */
int mg_block_group(const void* block, mg_group_t* out);

/* --- Observation ------------------------------------------------------- */

/* Usage of the group and its descendants. With exact != 0, every stock of
 * the subtree is drained first so the value is exact. */
int mg_group_current(mg_group_t group, int exact, int64_t* bytes);
int mg_group_peak(mg_group_t group, int64_t* bytes);
/* Resets the peak to the current usage (memory.peak write). */
int mg_group_reset_peak(mg_group_t group);
int mg_group_failcnt(mg_group_t group, int64_t* count);
/* local != 0 reads events.local, else the hierarchical events. */
int mg_group_events(mg_group_t group, int local, mg_events_t* out);
/* Writes every group's stats as "key value" lines to fd. */
int mg_stats_write(int fd);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* MEMGROUP_MEMGROUP_H_ */
