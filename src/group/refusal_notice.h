// The one-line notice of a charge refused at a limit set from outside the
// program: MEMGROUP_MAX (the process root's max) or the max of a
// `memgroup run` job. The first such refusal of a process is reported once on
// stderr, before the OOM policy runs, with the limit and where it was set,
// the usage, the request, how long after the library started it came and,
// when known, whether the program's main had begun: a limit below what a
// program needs to start would otherwise show only as the program's own
// failure ("Fatal Python error ... memory allocation failed"). Refusals at
// limits the program set itself (groups of the C ABI, or a root max changed
// through it) are the program's business and are not reported.
// Must never: allocate (raw_log formats on the stack), call the engine or
// any layer above. Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_REFUSAL_NOTICE_H_
#define MEMGROUP_SRC_GROUP_REFUSAL_NOTICE_H_

#include <cstdint>

namespace memgroup::internal {

// Where the program is in its start: unknown (library mode, a program
// that does not start through glibc's __libc_start_main, or a shared
// library's constructor before glibc calls it), between glibc's
// __libc_start_main and the program's main (the program's own constructors),
// or in main and after.
enum class StartPhase : uint32_t { kUnknown = 0, kBeforeMain = 1, kInMain = 2 };

// Called by the entry wrapper (src/alloc/start_main) on the main thread.
// Allocates: never.
void SetStartPhase(StartPhase phase);

// At init, after the environment was applied: the start time the notice
// counts from, and MEMGROUP_MAX's value (has_env_max false when it is not
// set). Allocates: never.
void ArmRefusalNotice(bool has_env_max, int64_t env_max);

// A charge of `bytes` refused at level `refusing` (after drain and
// reclaim, before the OOM policy): writes the notice to fd 2 if the limit
// is MEMGROUP_MAX or a job's and no notice was written yet in this process
// (a fork child inherits that). Allocates: never.
void NoticeRefusal(uint32_t refusing, int64_t bytes);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_REFUSAL_NOTICE_H_
