// Raw logging: formats into a stack buffer and writes with write(2).
// Allocates: never. Usable from the malloc path, signal handlers and fork
// children. Supports a tiny printf subset: %s %d %u %ld %lu %lld %llu %zu %zd
// %x %lx %p %c %%.
#ifndef MEMGROUP_SRC_BASE_RAW_LOG_H_
#define MEMGROUP_SRC_BASE_RAW_LOG_H_

#include <cstdarg>
#include <cstddef>

namespace memgroup::internal {

// Formats `fmt` into `buf` (always NUL-terminated when cap > 0). Returns the
// number of characters written, excluding the NUL. Truncates silently.
// Allocates: never.
size_t RawFormat(char* buf, size_t cap, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t RawVFormat(char* buf, size_t cap, const char* fmt, va_list ap);

// Formats and writes to `fd`, retrying on EINTR; errno is preserved.
// Allocates: never.
void RawPrint(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// "memgroup: " + message + "\n" to stderr. Allocates: never.
void RawLog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Writes all of [data, data+len) to fd. Allocates: never.
void RawWriteAll(int fd, const char* data, size_t len);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_RAW_LOG_H_
