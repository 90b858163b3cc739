// Implements parse_config.h. Allocates: never.
#include "base/parse_config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "base/ascii.h"

namespace memgroup::internal {
namespace {

// The text without leading and trailing whitespace: [*begin, *end).
bool Trim(const char* text, const char** begin, const char** end) {
  if (text == nullptr) return false;
  const char* p = text;
  while (IsAsciiSpace(*p)) ++p;
  const char* e = p;
  while (*e != '\0') ++e;
  while (e > p && IsAsciiSpace(e[-1])) --e;
  *begin = p;
  *end = e;
  return p != e;
}

// Case-insensitive comparison of [p, e) with the lower-case `word`.
bool Is(const char* p, const char* e, const char* word) {
  for (; p < e; ++p, ++word) {
    if (*word == '\0' || AsciiLower(*p) != *word) return false;
  }
  return *word == '\0';
}

// Decimal digits [p, e) into *out, at most `max`.
ParseConfigError ParseDecimal(const char* p, const char* e, uint64_t max,
                              uint64_t* out) {
  if (p == e) return ParseConfigError::kBadNumber;
  uint64_t v = 0;
  for (; p < e; ++p) {
    if (!IsAsciiDigit(*p)) return ParseConfigError::kBadNumber;
    const uint64_t digit = static_cast<uint64_t>(*p - '0');
    if (v > (max - digit) / 10) return ParseConfigError::kOutOfRange;
    v = v * 10 + digit;
  }
  *out = v;
  return ParseConfigError::kOk;
}

}  // namespace

const char* ParseConfigErrorString(ParseConfigError e) {
  switch (e) {
    case ParseConfigError::kOk: return "ok";
    case ParseConfigError::kEmpty: return "empty value";
    case ParseConfigError::kUnknown: return "unknown value";
    case ParseConfigError::kBadNumber: return "not a number";
    case ParseConfigError::kOutOfRange: return "out of range";
  }
  return "invalid";
}

ParseConfigError ParseOomPolicy(const char* text, OomSetting* out) {
  const char *p, *e;
  if (!Trim(text, &p, &e)) return ParseConfigError::kEmpty;
  OomSetting s;
  if (Is(p, e, "enomem")) {
    s.policy = OomPolicyChoice::kEnomem;
  } else if (Is(p, e, "abort")) {
    s.policy = OomPolicyChoice::kAbort;
  } else if (Is(p, e, "kill")) {
    s.policy = OomPolicyChoice::kKill;
  } else if (Is(p, e, "wait")) {
    s.policy = OomPolicyChoice::kWait;
  } else if (e - p > 5 && Is(p, p + 5, "wait:")) {
    uint64_t secs = 0;
    ParseConfigError err = ParseDecimal(
        p + 5, e, static_cast<uint64_t>(kMaxOomWaitSeconds), &secs);
    if (err != ParseConfigError::kOk) return err;
    s.policy = OomPolicyChoice::kWait;
    s.wait_ns = static_cast<int64_t>(secs) * 1000000000;
  } else if (e - p == 5 && Is(p, e, "wait:")) {
    return ParseConfigError::kBadNumber;
  } else {
    return ParseConfigError::kUnknown;
  }
  *out = s;
  return ParseConfigError::kOk;
}

ParseConfigError ParseEngineName(const char* text, EngineChoice* out) {
  const char *p, *e;
  if (!Trim(text, &p, &e)) return ParseConfigError::kEmpty;
  EngineChoice choice;
  if (Is(p, e, "jemalloc")) {
    choice = EngineChoice::kJemalloc;
  } else if (Is(p, e, "mimalloc")) {
    choice = EngineChoice::kMimalloc;
  } else {
    return ParseConfigError::kUnknown;
  }
  if (out != nullptr) *out = choice;
  return ParseConfigError::kOk;
}

ParseConfigError ParseProbability(const char* text, double* out) {
  const char *p, *e;
  if (!Trim(text, &p, &e)) return ParseConfigError::kEmpty;
  if (!IsAsciiDigit(*p)) return ParseConfigError::kBadNumber;
  // Integer part: leading zeros, then at most a single 1.
  double v = 0;
  bool one = false;
  while (p < e && *p == '0') ++p;
  if (p < e && IsAsciiDigit(*p)) {
    if (*p != '1' || (p + 1 < e && IsAsciiDigit(p[1]))) {
      return ParseConfigError::kOutOfRange;
    }
    v = 1;
    one = true;
    ++p;
  }
  bool nonzero_fraction = false;
  if (p < e && *p == '.') {
    ++p;
    if (p == e || !IsAsciiDigit(*p)) return ParseConfigError::kBadNumber;
    double scale = 0.1;
    for (; p < e && IsAsciiDigit(*p); ++p) {
      nonzero_fraction |= *p != '0';
      v += (*p - '0') * scale;
      scale /= 10;
    }
  }
  if (p != e) return ParseConfigError::kBadNumber;
  // Above 1 is decided on the digits: 1 plus a fraction too small to change
  // a double (1.00000000000000000001) is still above 1.
  if (one && nonzero_fraction) return ParseConfigError::kOutOfRange;
  *out = v;
  return ParseConfigError::kOk;
}

ParseConfigError ParseSeed(const char* text, uint64_t* out) {
  const char *p, *e;
  if (!Trim(text, &p, &e)) return ParseConfigError::kEmpty;
  return ParseDecimal(p, e, UINT64_MAX, out);
}

ParseConfigError ParseSwitch(const char* text, bool* out) {
  if (text == nullptr || *text == '\0') return ParseConfigError::kEmpty;
  if ((text[0] != '0' && text[0] != '1') || text[1] != '\0') {
    return ParseConfigError::kUnknown;
  }
  *out = text[0] == '1';
  return ParseConfigError::kOk;
}

ParseConfigError ParseStatsPath(const char* text) {
  if (text == nullptr || *text == '\0') return ParseConfigError::kEmpty;
  size_t len = 0;
  while (text[len] != '\0') {
    if (++len >= kStatsPathCapacity) return ParseConfigError::kOutOfRange;
  }
  return ParseConfigError::kOk;
}

int StatsPathWriteError(const char* path) {
  if (strcmp(path, "stderr") == 0 || strcmp(path, "-") == 0) return 0;
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return EISDIR;
    return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 ? 0 : errno;
  }
  if (errno != ENOENT) return errno;
  // A new file: its directory must exist and take new entries.
  char dir[kStatsPathCapacity];
  const char* slash = strrchr(path, '/');
  if (slash == nullptr) {
    memcpy(dir, ".", 2);
  } else {
    size_t len = slash == path ? 1 : static_cast<size_t>(slash - path);
    if (len >= sizeof(dir)) return ENAMETOOLONG;
    memcpy(dir, path, len);
    dir[len] = '\0';
  }
  if (stat(dir, &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0 ? 0 : errno;
}

}  // namespace memgroup::internal
