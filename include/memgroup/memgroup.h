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
  MG_OOM_HANDLER = 4 /* the group's OOM handler decides (mg_group_set_oom_handler) */
} mg_oom_policy_t;

/* Verdicts of an OOM handler. */
#define MG_OOM_RETRY 0 /* something was freed: retry the charge */
#define MG_OOM_FAIL 1  /* fail the allocation (ENOMEM / bad_alloc) */
#define MG_OOM_FORCE 2 /* charge over the limit (counted as a max event) */

/* Asked to release up to `target` bytes charged to `group`; returns the
 * bytes released. Runs on the allocating thread with no memgroup lock held;
 * it may allocate (charged directly, never re-entering reclaim) and free. */
typedef int64_t (*mg_reclaim_fn)(mg_group_t group, int64_t target, void* arg);
/* Decides a charge refused at `group`'s max: MG_OOM_RETRY/FAIL/FORCE. */
typedef int (*mg_oom_handler_fn)(mg_group_t group, int64_t bytes, void* arg);
/* Usage of `group` crossed `threshold`: upwards (above = 1) or downwards. */
typedef void (*mg_threshold_fn)(mg_group_t group, int64_t threshold, int above,
                                void* arg);
/* Reclaim in `group`'s subtree ran at pressure `level` (MG_PRESSURE_*). */
typedef void (*mg_pressure_fn)(mg_group_t group, int level, void* arg);

#define MG_PRESSURE_LOW 1      /* reclaim released most of what was asked */
#define MG_PRESSURE_MEDIUM 2   /* released less than 40% */
#define MG_PRESSURE_CRITICAL 3 /* released less than 5% */

typedef struct mg_events {
  uint64_t low, high, max, oom, oom_kill, oom_group_kill;
} mg_events_t;

/* memory.stat of a group and its descendants, in bytes unless named.
 * current = heap + mmap + explicit_bytes + stock + engine_free +
 * engine_cached + engine_slack (exact while nothing is charged or freed
 * meanwhile: the parts are read one after the other). Fields are only ever
 * appended (mg_group_stat_sized). */
typedef struct mg_stat {
  int64_t current;       /* usage, stocks included */
  int64_t heap;          /* usable bytes of live blocks (freed small blocks
                            a thread's cache holds count until it gives
                            them back: rebinding, thread exit, reclaim) */
  int64_t mmap;          /* charged anonymous mappings */
  int64_t explicit_bytes; /* mg_charge() */
  int64_t stock;         /* pre-charged bytes held in thread stocks */
  int64_t reclaim_calls; /* reclaim callback invocations */
  int64_t reclaimed;     /* bytes reclaim callbacks reported released */
  int64_t throttled_usec;/* time threads slept above high */
  int64_t oom_wait_usec; /* time threads waited under MG_OOM_WAIT */
  int64_t overhead;      /* engine pages resident but not holding blocks */
  int64_t allocs;        /* blocks allocated (engine count) */
  int64_t frees;         /* blocks freed (engine count) */
  int64_t engine_free;   /* charged free engine pages: freed large blocks'
                            pages and released slabs, kept for the group's
                            next blocks until reclaim or decay returns them */
  int64_t engine_cached; /* freed large blocks threads' caches keep, charged */
  int64_t engine_slack;  /* charged pages of slabs in use beyond their live
                            blocks: headers, page tails, free regions */
} mg_stat_t;

/* One size class of a group's histogram of live blocks. */
typedef struct mg_size_class {
  uint64_t size;  /* usable size of the class, bytes */
  uint64_t count; /* live blocks of that class (thread-cached ones included) */
} mg_size_class_t;

/* PSI-style pressure: percent of wall time stalled (reclaim, throttling,
 * OOM waits) with at least one thread (some) or every thread (full). */
typedef struct mg_pressure {
  double some_avg10, some_avg60, some_avg300;
  double full_avg10, full_avg60, full_avg300;
  uint64_t some_total_usec, full_total_usec;
} mg_pressure_t;

/* --- Groups ------------------------------------------------------------ */

/* The root group "/" (the whole process). */
mg_group_t mg_root(void);
/* Creates `name` ([A-Za-z0-9._-], 1..63 bytes) under `parent`. New groups
 * start with max = high = MG_UNLIMITED and low = min = 0. A process holds
 * up to 65,535 groups besides "/" (63 with the mimalloc engine): ENOSPC
 * after that, until destroyed groups' blocks are freed. An empty group
 * costs about 600 bytes; the jemalloc engine gives it its allocator arena
 * on its first allocation, and at most about 4,090 groups hold one at a
 * time: allocating in a group without one then fails (ENOMEM), and
 * mg_thread_set_group to it returns ENOSPC. */
int mg_group_create(mg_group_t parent, const char* name, mg_group_t* out);
/* Finds a group by path, e.g. "/tenants/a". */
int mg_group_lookup(const char* path, mg_group_t* out);
/* Destroys a group without children. Blocks still charged to it stay
 * charged to its ancestors until freed; threads in it move to its parent.
 * Its free memory goes back to the system now, and the rest once its last
 * block is freed. */
int mg_group_destroy(mg_group_t group);
/* Writes the group's path ("/a/b") into buf (NUL-terminated). */
int mg_group_path(mg_group_t group, char* buf, size_t cap);

/* --- Limits ------------------------------------------------------------ */

/* Sets a limit. A max below current usage is allowed (cgroup v2): stocks
 * are drained at once and later charges fail until usage falls. Raising a
 * limit wakes threads waiting under MG_OOM_WAIT. */
int mg_group_set_limit(mg_group_t group, mg_limit_t which, int64_t bytes);
int mg_group_get_limit(mg_group_t group, mg_limit_t which, int64_t* bytes);
/* timeout_ms applies to MG_OOM_WAIT only; -1 waits forever; EINVAL below
 * -1 or above INT64_MAX / 1000000 (its nanoseconds must fit in 64 bits). */
int mg_group_set_oom_policy(mg_group_t group, mg_oom_policy_t policy,
                            int64_t timeout_ms);

/* Sets the function the MG_OOM_HANDLER policy calls (NULL removes it). */
int mg_group_set_oom_handler(mg_group_t group, mg_oom_handler_fn fn, void* arg);

/* --- Reclaim ----------------------------------------------------------- */

/* Registers a reclaim callback on a group. At a refused charge, memgroup
 * drains stocks, then asks the callbacks of the refusing group and its
 * descendants for the shortfall, skipping groups within their effective min
 * and reaching groups within their effective low only when nothing else
 * gave (kernel protection). *handle identifies the registration. */
int mg_reclaim_register(mg_group_t group, mg_reclaim_fn fn, void* arg,
                        int* handle);
int mg_reclaim_unregister(int handle);
/* Proactive reclaim (memory.reclaim): asks the subtree's callbacks for
 * `bytes` without any pressure; *released gets what they released. */
int mg_group_reclaim(mg_group_t group, int64_t bytes, int64_t* released);

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
/* Fills the first `size` bytes of *out (sizeof(mg_stat_t) from this
 * header; at least the 96 bytes up to and including `frees`, else EINVAL).
 * mg_group_stat below passes this header's sizeof(mg_stat_t), so a program
 * built against an older memgroup.h, whose mg_stat_t ended at `frees`, and
 * calling the symbol mg_group_stat, gets that prefix only. */
int mg_group_stat_sized(mg_group_t group, mg_stat_t* out, size_t size);
int mg_group_stat(mg_group_t group, mg_stat_t* out);
#define mg_group_stat(group, out) \
  mg_group_stat_sized((group), (out), sizeof(mg_stat_t))
int mg_group_pressure(mg_group_t group, mg_pressure_t* out);
/* The group's own (not descendants') live blocks by size class, ascending:
 * writes up to `cap` non-empty classes and their number to *n. */
int mg_group_histogram(mg_group_t group, mg_size_class_t* out, size_t cap,
                       size_t* n);
/* Calls fn when the group's usage crosses `threshold` in either direction
 * (checked whenever the counter moves; stocks make it batch-granular). */
int mg_threshold_register(mg_group_t group, int64_t threshold,
                          mg_threshold_fn fn, void* arg, int* handle);
int mg_threshold_unregister(int handle);
/* Calls fn when reclaim in the group's subtree runs at `level` or worse. */
int mg_pressure_register(mg_group_t group, int level, mg_pressure_fn fn,
                         void* arg, int* handle);
int mg_pressure_unregister(int handle);
/* Writes every group's stats as "key value" lines to fd. */
int mg_stats_write(int fd);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* MEMGROUP_MEMGROUP_H_ */
