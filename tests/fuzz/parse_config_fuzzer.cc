// Fuzz target for the configuration value parsers (src/base/parse_config):
// the input, up to its first NUL, goes through every parser (OOM policy,
// engine name, probability, seed, stats path). Properties, per parser:
// agreement with a reference model written independently (acceptance, the
// error code where the model fixes it, the value; the probability's range
// is checked on the exact decimal, not on a rounded double); a refused value
// leaves the output untouched; an accepted OOM policy or seed formats to a
// canonical text that parses back to the same setting; a probability is
// within 1e-12 of strtod's and in [0, 1]; case and surrounding whitespace
// do not matter (the stats path is taken as given).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/parse_config.h"
#include "fuzz_support.h"

namespace memgroup::fuzz {
namespace {

using internal::OomPolicyChoice;
using internal::OomSetting;
using internal::ParseConfigError;

std::string Code(ParseConfigError e) {
  return std::to_string(static_cast<int>(e)) + " (" +
         internal::ParseConfigErrorString(e) + ")";
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decimal digits, checked left to right as the parsers do: a non-digit is
// kBadNumber, passing `max` kOutOfRange, whichever comes first.
ParseConfigError ModelDecimal(std::string_view s, unsigned __int128 max,
                              unsigned __int128* out) {
  if (s.empty()) return ParseConfigError::kBadNumber;
  unsigned __int128 v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return ParseConfigError::kBadNumber;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > max) return ParseConfigError::kOutOfRange;
  }
  *out = v;
  return ParseConfigError::kOk;
}

// ---- OOM policy ----

ParseConfigError ModelOom(std::string_view in, OomSetting* out) {
  const std::string s = Lower(Trimmed(in));
  if (s.empty()) return ParseConfigError::kEmpty;
  static const struct {
    const char* word;
    OomPolicyChoice policy;
  } kWords[] = {{"enomem", OomPolicyChoice::kEnomem},
                {"abort", OomPolicyChoice::kAbort},
                {"kill", OomPolicyChoice::kKill},
                {"wait", OomPolicyChoice::kWait}};
  for (const auto& w : kWords) {
    if (s == w.word) {
      *out = OomSetting{w.policy, -1};
      return ParseConfigError::kOk;
    }
  }
  if (s.compare(0, 5, "wait:") == 0) {
    unsigned __int128 secs = 0;
    ParseConfigError e = ModelDecimal(
        std::string_view(s).substr(5),
        static_cast<unsigned __int128>(internal::kMaxOomWaitSeconds), &secs);
    if (e != ParseConfigError::kOk) return e;
    *out = OomSetting{OomPolicyChoice::kWait,
                      static_cast<int64_t>(secs * 1000000000)};
    return ParseConfigError::kOk;
  }
  return ParseConfigError::kUnknown;
}

std::string OomText(const OomSetting& s) {
  switch (s.policy) {
    case OomPolicyChoice::kEnomem: return "enomem";
    case OomPolicyChoice::kAbort: return "abort";
    case OomPolicyChoice::kKill: return "kill";
    case OomPolicyChoice::kWait:
      if (s.wait_ns < 0) return "wait";
      return "wait:" + std::to_string(s.wait_ns / 1000000000);
  }
  return "?";
}

bool SameOom(const OomSetting& a, const OomSetting& b) {
  return a.policy == b.policy && a.wait_ns == b.wait_ns;
}

constexpr OomSetting kOomSentinel{OomPolicyChoice::kKill, -77};

ParseConfigError ParseOom(std::string_view text, OomSetting* out) {
  CString c(text);
  *out = kOomSentinel;
  return internal::ParseOomPolicy(c.get(), out);
}

void CheckOom(std::string_view text, const std::string& ctx) {
  OomSetting got, want;
  const ParseConfigError e = ParseOom(text, &got);
  const ParseConfigError m = ModelOom(text, &want);
  FUZZ_CHECK(e == m, ctx + ": OOM policy error " + Code(e) + ", model " + Code(m));
  if (e != ParseConfigError::kOk) {
    FUZZ_CHECK(SameOom(got, kOomSentinel), ctx + ": refused OOM policy wrote");
  } else {
    FUZZ_CHECK(SameOom(got, want), ctx + ": OOM policy " + OomText(got) +
                                       ", model " + OomText(want));
    FUZZ_CHECK(got.wait_ns == -1 || (got.policy == OomPolicyChoice::kWait &&
                                     got.wait_ns >= 0 &&
                                     got.wait_ns % 1000000000 == 0),
               ctx + ": wait_ns " + std::to_string(got.wait_ns));
    const std::string canon = OomText(got);
    OomSetting again;
    FUZZ_CHECK(ParseOom(canon, &again) == ParseConfigError::kOk &&
                   SameOom(again, got),
               ctx + ": '" + canon + "' does not parse back");
    FUZZ_CHECK(ParseOom(Upper(canon), &again) == ParseConfigError::kOk &&
                   SameOom(again, got),
               ctx + ": upper-case '" + canon + "' differs");
  }
  for (const std::string& v : CaseAndSpaceVariants(text)) {
    OomSetting s;
    const ParseConfigError ve = ParseOom(v, &s);
    FUZZ_CHECK(ve == e && (e != ParseConfigError::kOk || SameOom(s, got)),
               ctx + ": OOM variant '" + Escaped(v) + "' differs");
  }
}

// ---- engine name ----

void CheckEngine(std::string_view text, const std::string& ctx) {
  const std::string s = Lower(Trimmed(text));
  const ParseConfigError want = s.empty()          ? ParseConfigError::kEmpty
                                : s == "jemalloc" ? ParseConfigError::kOk
                                                  : ParseConfigError::kUnknown;
  const ParseConfigError e = internal::ParseEngineName(CString(text).get());
  FUZZ_CHECK(e == want, ctx + ": engine " + Code(e) + ", model " + Code(want));
  for (const std::string& v : CaseAndSpaceVariants(text)) {
    FUZZ_CHECK(internal::ParseEngineName(CString(v).get()) == e,
               ctx + ": engine variant '" + Escaped(v) + "' differs");
  }
}

// ---- probability ----

enum class ProbModel { kEmpty, kMalformed, kAboveOne, kOk };

// digits ["." digits], compared with 1 exactly on the decimal text.
ProbModel ModelProbability(std::string_view in) {
  const std::string_view s = Trimmed(in);
  if (s.empty()) return ProbModel::kEmpty;
  size_t i = 0;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == 0) return ProbModel::kMalformed;
  std::string_view integer = s.substr(0, i);
  std::string_view fraction;
  if (i < s.size()) {
    if (s[i] != '.') return ProbModel::kMalformed;
    fraction = s.substr(i + 1);
    if (fraction.empty()) return ProbModel::kMalformed;
    for (char c : fraction) {
      if (!IsDigit(c)) return ProbModel::kMalformed;
    }
  }
  while (!integer.empty() && integer.front() == '0') integer.remove_prefix(1);
  if (integer.empty()) return ProbModel::kOk;
  if (integer != "1") return ProbModel::kAboveOne;
  for (char c : fraction) {
    if (c != '0') return ProbModel::kAboveOne;
  }
  return ProbModel::kOk;
}

constexpr double kProbSentinel = -3.5;

ParseConfigError ParseProb(std::string_view text, double* out) {
  CString c(text);
  *out = kProbSentinel;
  return internal::ParseProbability(c.get(), out);
}

void CheckProbability(std::string_view text, const std::string& ctx) {
  double got = 0;
  const ParseConfigError e = ParseProb(text, &got);
  const ProbModel m = ModelProbability(text);
  const std::string what = ctx + ": probability error " + Code(e) +
                           ", model " + std::to_string(static_cast<int>(m));
  switch (m) {
    case ProbModel::kEmpty:
      FUZZ_CHECK(e == ParseConfigError::kEmpty, what);
      break;
    case ProbModel::kMalformed:
      FUZZ_CHECK(e == ParseConfigError::kBadNumber ||
                     e == ParseConfigError::kOutOfRange,
                 what);
      break;
    case ProbModel::kAboveOne:
      FUZZ_CHECK(e == ParseConfigError::kOutOfRange, what);
      break;
    case ProbModel::kOk:
      FUZZ_CHECK(e == ParseConfigError::kOk, what);
      break;
  }
  if (e != ParseConfigError::kOk) {
    FUZZ_CHECK(got == kProbSentinel, ctx + ": refused probability wrote");
  } else {
    const std::string trimmed(Trimmed(text));
    const double ref = strtod(trimmed.c_str(), nullptr);
    char shown[64];
    snprintf(shown, sizeof(shown), "%.17g (strtod %.17g)", got, ref);
    FUZZ_CHECK(got >= 0.0 && got <= 1.0, ctx + ": probability " + shown);
    FUZZ_CHECK(got - ref <= 1e-12 && ref - got <= 1e-12,
               ctx + ": probability " + shown);
    FUZZ_CHECK((ref == 0.0) == (got == 0.0), ctx + ": zero " + shown);
    // Written back in fixed notation, it parses to (nearly) the same value.
    char fixed[64];
    snprintf(fixed, sizeof(fixed), "%.20f", got);
    double again = 0;
    FUZZ_CHECK(ParseProb(fixed, &again) == ParseConfigError::kOk &&
                   again - got <= 1e-15 && got - again <= 1e-15,
               ctx + ": '" + fixed + "' does not parse back");
  }
  for (const std::string& v : CaseAndSpaceVariants(text)) {
    double p = 0;
    const ParseConfigError ve = ParseProb(v, &p);
    FUZZ_CHECK(ve == e && (e != ParseConfigError::kOk || p == got),
               ctx + ": probability variant '" + Escaped(v) + "' differs");
  }
}

// ---- seed ----

void CheckSeed(std::string_view text, const std::string& ctx) {
  const std::string_view t = Trimmed(text);
  unsigned __int128 want = 0;
  const ParseConfigError m = t.empty()
                                 ? ParseConfigError::kEmpty
                                 : ModelDecimal(t, UINT64_MAX, &want);
  CString c(text);
  uint64_t got = 0xfeedfacecafebeefull;
  const ParseConfigError e = internal::ParseSeed(c.get(), &got);
  FUZZ_CHECK(e == m, ctx + ": seed error " + Code(e) + ", model " + Code(m));
  if (e != ParseConfigError::kOk) {
    FUZZ_CHECK(got == 0xfeedfacecafebeefull, ctx + ": refused seed wrote");
  } else {
    FUZZ_CHECK(got == static_cast<uint64_t>(want), ctx + ": seed value");
    const std::string canon = std::to_string(got);
    uint64_t again = 0;
    FUZZ_CHECK(internal::ParseSeed(CString(canon).get(), &again) ==
                       ParseConfigError::kOk &&
                   again == got,
               ctx + ": '" + canon + "' does not parse back");
  }
  for (const std::string& v : CaseAndSpaceVariants(text)) {
    uint64_t s = 0;
    const ParseConfigError ve = internal::ParseSeed(CString(v).get(), &s);
    FUZZ_CHECK(ve == e && (e != ParseConfigError::kOk || s == got),
               ctx + ": seed variant '" + Escaped(v) + "' differs");
  }
}

// ---- stats path ----

void CheckStatsPath(std::string_view text, const std::string& ctx) {
  const ParseConfigError want =
      text.empty() ? ParseConfigError::kEmpty
      : text.size() >= internal::kStatsPathCapacity
          ? ParseConfigError::kOutOfRange
          : ParseConfigError::kOk;
  const ParseConfigError e = internal::ParseStatsPath(CString(text).get());
  FUZZ_CHECK(e == want, ctx + ": stats path " + Code(e) + ", model " +
                            Code(want) + ", length " +
                            std::to_string(text.size()));
}

}  // namespace
}  // namespace memgroup::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgroup::fuzz;
  const std::string_view text = UpToNul(data, size);
  const std::string ctx = "input '" + Escaped(text) + "'";
  CheckOom(text, ctx);
  CheckEngine(text, ctx);
  CheckProbability(text, ctx);
  CheckSeed(text, ctx);
  CheckStatsPath(text, ctx);
  return 0;
}
