// ASCII character classes for the value parsers (parse_size, parse_config):
// locale-free, allocation-free, usable before main.
// Allocates: never.
#ifndef MEMGROUP_SRC_BASE_ASCII_H_
#define MEMGROUP_SRC_BASE_ASCII_H_

namespace memgroup::internal {

constexpr bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

constexpr bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

constexpr char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_ASCII_H_
