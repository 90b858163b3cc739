// Parsers of the configuration values other than sizes (parse_size.h): the
// OOM policy with its optional wait timeout, the engine name, the fault
// injection probability and its seed, the stats path's bounds, and the one
// check that asks the system rather than the text: whether the stats file
// can be written (StatsPathWriteError). The library's environment
// (MEMGROUP_*) and the `memgroup run` command both validate through these,
// so they accept exactly the same values. Enumerated values are
// case-insensitive, like sizes; leading and trailing ASCII whitespace is
// ignored, like sizes.
// Allocates: never (usable before main under LD_PRELOAD).
#ifndef MEMGROUP_SRC_BASE_PARSE_CONFIG_H_
#define MEMGROUP_SRC_BASE_PARSE_CONFIG_H_

#include <cstddef>
#include <cstdint>

namespace memgroup::internal {

enum class ParseConfigError {
  kOk,
  kEmpty,       // "" or only whitespace
  kUnknown,     // not one of the accepted words
  kBadNumber,   // a number was expected and something else was found
  kOutOfRange,  // a number outside the accepted range (overflow included)
};

// A short English description of the error, for messages.
const char* ParseConfigErrorString(ParseConfigError e);

// OOM policies settable from the environment and the command (the handler
// policy needs a callback: the C ABI only). Same values as the group
// layer's OomPolicy.
enum class OomPolicyChoice : uint32_t { kEnomem = 0, kAbort = 1, kKill = 2,
                                        kWait = 3 };
struct OomSetting {
  OomPolicyChoice policy = OomPolicyChoice::kEnomem;
  // wait only: the timeout in nanoseconds, -1 = forever. wait:0 fails at
  // once after the drain and reclaim (one retry, no sleep).
  int64_t wait_ns = -1;
};
// The longest wait:SECONDS whose nanoseconds fit in int64.
inline constexpr int64_t kMaxOomWaitSeconds = INT64_MAX / 1000000000;
// "enomem", "abort", "kill", "wait" or "wait:SECONDS" (0 to
// kMaxOomWaitSeconds, decimal digits only).
[[nodiscard]] ParseConfigError ParseOomPolicy(const char* text,
                                              OomSetting* out);
inline constexpr const char kOomPolicyExpected[] =
    "enomem, abort, kill, wait or wait:SECONDS (SECONDS from 0 to "
    "9223372036; 0 fails at once after reclaim)";

// The allocation engines (MEMGROUP_ENGINE, `memgroup run --engine`).
enum class EngineChoice : uint32_t { kJemalloc = 0, kMimalloc = 1 };
// "jemalloc" or "mimalloc", in any case, surrounded by blanks or not. Sets
// *out (when not nullptr) only on success.
[[nodiscard]] ParseConfigError ParseEngineName(const char* text,
                                               EngineChoice* out = nullptr);
inline constexpr const char kEngineExpected[] = "jemalloc or mimalloc";

// A probability: decimal digits with an optional fraction ("0", "0.05",
// "1", "1.0"), from 0 to 1.
[[nodiscard]] ParseConfigError ParseProbability(const char* text,
                                                double* out);
inline constexpr const char kProbabilityExpected[] =
    "a probability from 0 to 1, like 0.01";

// A seed: a decimal integer from 0 to 2^64-1.
[[nodiscard]] ParseConfigError ParseSeed(const char* text, uint64_t* out);
inline constexpr const char kSeedExpected[] =
    "a decimal integer from 0 to 18446744073709551615";

// A switch (MEMGROUP_CHECK, MEMGROUP_CONTROL, `memgroup run --check`,
// `--control`): exactly "0" or "1". Sets *out only on success.
[[nodiscard]] ParseConfigError ParseSwitch(const char* text, bool* out);
inline constexpr const char kSwitchExpected[] = "0 or 1";

// MEMGROUP_STATS: "stderr", "-" or a file path, taken as given (no
// trimming, no case folding): non-empty (kEmpty) and shorter than
// kStatsPathCapacity bytes (kOutOfRange), the library's buffer for it.
inline constexpr size_t kStatsPathCapacity = 512;
[[nodiscard]] ParseConfigError ParseStatsPath(const char* text);

// Whether the stats report could be written to `path` (accepted by
// ParseStatsPath) now: 0 for "stderr", "-", a writable file or a missing
// file in a writable directory; else the errno value opening it would fail
// with (ENOENT: no such directory, EACCES, EISDIR, ENOTDIR, EROFS...).
// Asks the file system (stat, faccessat with the effective ids) and
// changes nothing: no file is created. A relative path is taken from the
// current directory. The library checks MEMGROUP_STATS with it before
// main, `memgroup run` checks --stats. Allocates: never.
[[nodiscard]] int StatsPathWriteError(const char* path);
// The message's words for a StatsPathWriteError result.
inline constexpr const char kStatsPathUnwritable[] =
    "cannot write the stats report there";

// Why low and min are refused for the process's group (environment and
// command alike).
inline constexpr const char kRootProtectionRefused[] =
    "has no effect on the process's root group: protection only matters "
    "against sibling groups, and the root has none";

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_PARSE_CONFIG_H_
