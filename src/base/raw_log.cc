// Implements raw_log.h: a printf subset into caller-provided buffers, written
// with the raw write syscall. Never allocates and never takes a lock.
#include "base/raw_log.h"

#include <cerrno>
#include <cstdint>

#include "base/sys.h"

namespace memgroup::internal {
namespace {

struct Out {
  char* buf;
  size_t cap;
  size_t len;
  void Put(char c) {
    if (len + 1 < cap) buf[len] = c;
    ++len;
  }
  void PutStr(const char* s) {
    if (s == nullptr) s = "(null)";
    while (*s) Put(*s++);
  }
  void PutUnsigned(unsigned long long v, unsigned base) {
    char tmp[24];
    int n = 0;
    do {
      unsigned d = static_cast<unsigned>(v % base);
      tmp[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
      v /= base;
    } while (v != 0);
    while (n > 0) Put(tmp[--n]);
  }
  void PutSigned(long long v) {
    if (v < 0) {
      Put('-');
      PutUnsigned(static_cast<unsigned long long>(-(v + 1)) + 1, 10);
    } else {
      PutUnsigned(static_cast<unsigned long long>(v), 10);
    }
  }
};

}  // namespace

size_t RawVFormat(char* buf, size_t cap, const char* fmt, va_list ap) {
  Out o{buf, cap, 0};
  for (const char* p = fmt; *p; ++p) {
    if (*p != '%') {
      o.Put(*p);
      continue;
    }
    ++p;
    int longs = 0;
    bool size_t_mod = false;
    while (*p == 'l') {
      ++longs;
      ++p;
    }
    if (*p == 'z') {
      size_t_mod = true;
      ++p;
    }
    switch (*p) {
      case 's':
        o.PutStr(va_arg(ap, const char*));
        break;
      case 'c':
        o.Put(static_cast<char>(va_arg(ap, int)));
        break;
      case 'd':
        if (size_t_mod) {
          o.PutSigned(va_arg(ap, ptrdiff_t));
        } else if (longs == 0) {
          o.PutSigned(va_arg(ap, int));
        } else if (longs == 1) {
          o.PutSigned(va_arg(ap, long));
        } else {
          o.PutSigned(va_arg(ap, long long));
        }
        break;
      case 'u':
      case 'x': {
        unsigned base = *p == 'u' ? 10 : 16;
        if (size_t_mod) {
          o.PutUnsigned(va_arg(ap, size_t), base);
        } else if (longs == 0) {
          o.PutUnsigned(va_arg(ap, unsigned), base);
        } else if (longs == 1) {
          o.PutUnsigned(va_arg(ap, unsigned long), base);
        } else {
          o.PutUnsigned(va_arg(ap, unsigned long long), base);
        }
        break;
      }
      case 'p':
        o.PutStr("0x");
        o.PutUnsigned(reinterpret_cast<uintptr_t>(va_arg(ap, void*)), 16);
        break;
      case '%':
        o.Put('%');
        break;
      case '\0':
        --p;
        break;
      default:
        o.Put('%');
        o.Put(*p);
        break;
    }
  }
  if (cap > 0) o.buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len < cap ? o.len : (cap > 0 ? cap - 1 : 0);
}

size_t RawFormat(char* buf, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = RawVFormat(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

void RawWriteAll(int fd, const char* data, size_t len) {
  int saved = errno;
  while (len > 0) {
    long n = SysWrite(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  errno = saved;
}

void RawPrint(int fd, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  size_t n = RawVFormat(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  RawWriteAll(fd, buf, n);
}

void RawLog(const char* fmt, ...) {
  char buf[1024];
  size_t n = RawFormat(buf, sizeof(buf), "memgroup: ");
  va_list ap;
  va_start(ap, fmt);
  n += RawVFormat(buf + n, sizeof(buf) - n - 1, fmt, ap);
  va_end(ap);
  buf[n++] = '\n';
  RawWriteAll(2, buf, n);
}

}  // namespace memgroup::internal
