// Shared pieces of the fuzz targets: the property check that reports the
// failing input and aborts (a crash for libFuzzer and for the replay
// driver alike), printable escaping, NUL-terminated copies that sit at the
// end of their heap block (so ASan sees a read past the NUL), and the
// splitting of an input into NUL-separated strings; ASCII trimming and case
// helpers for the reference models.
#ifndef MEMGROUP_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define MEMGROUP_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace memgroup::fuzz {

// C-style escaping of bytes, for messages.
inline std::string Escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

[[noreturn]] inline void PropertyFailed(const char* cond, const char* file,
                                        int line, const std::string& what) {
  fprintf(stderr, "%s:%d: property failed: %s\n  %s\n", file, line, cond,
          what.c_str());
  fflush(stderr);
  abort();
}

// FUZZ_CHECK(condition, context): `context` (a std::string expression) is
// evaluated only when the condition fails.
#define FUZZ_CHECK(cond, context)                                          \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ::memgroup::fuzz::PropertyFailed(#cond, __FILE__, __LINE__, context); \
    }                                                                      \
  } while (0)

// A NUL-terminated copy of `s` in a heap block of exactly s.size() + 1
// bytes, so that reading past the terminator is an ASan error.
class CString {
 public:
  explicit CString(std::string_view s) : buf_(new char[s.size() + 1]) {
    if (!s.empty()) memcpy(buf_.get(), s.data(), s.size());
    buf_[s.size()] = '\0';
  }
  const char* get() const { return buf_.get(); }

 private:
  std::unique_ptr<char[]> buf_;
};

// The input up to its first NUL (what a C string of it would hold).
inline std::string_view UpToNul(const uint8_t* data, size_t size) {
  if (size == 0) return std::string_view();
  const char* p = reinterpret_cast<const char*>(data);
  const void* nul = memchr(p, '\0', size);
  return std::string_view(
      p, nul ? static_cast<size_t>(static_cast<const char*>(nul) - p) : size);
}

// The input cut at every NUL (an empty input gives no strings; a trailing
// NUL does not add an empty last string).
inline std::vector<std::string> SplitAtNul(const uint8_t* data, size_t size) {
  std::vector<std::string> out;
  const char* p = reinterpret_cast<const char*>(data);
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || p[i] == '\0') {
      if (i < size || i > start) out.emplace_back(p + start, i - start);
      start = i + 1;
    }
  }
  return out;
}

// The parsers' whitespace (ASCII, the C locale's isspace).
inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

inline std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Versions of `s` that a case-insensitive parser ignoring surrounding
// whitespace must treat as `s`.
inline std::vector<std::string> CaseAndSpaceVariants(std::string_view s) {
  return {Upper(s), Lower(s), " \t" + std::string(s) + "\n",
          "\r\f" + std::string(s) + " \v"};
}

}  // namespace memgroup::fuzz

#endif  // MEMGROUP_TESTS_FUZZ_FUZZ_SUPPORT_H_
