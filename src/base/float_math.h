// exp, log and round for double without libm. The library's few uses of
// them (the pressure averages' decay here, jemalloc's heap-profiling
// sampler through the redirection in cmake/RenameJemalloc.cmake) would
// otherwise make every process that preloads the library load libm.so.6
// as well: measured 20,000 instructions and 12 page faults of start-up for
// /bin/true. Results are within 2 ulp of libm's (tests/base/
// float_math_test.cc), with C's special values (NaN, infinities, zeros,
// underflow to subnormals and 0, overflow to infinity).
// Allocates: never. Sets errno: never (libm would set ERANGE/EDOM).
#ifndef MEMGROUP_SRC_BASE_FLOAT_MATH_H_
#define MEMGROUP_SRC_BASE_FLOAT_MATH_H_

namespace memgroup::internal {

// e raised to x.
double Exp(double x);
// The natural logarithm of x: NaN for x < 0, -infinity for x = 0.
double Log(double x);
// x rounded to the nearest integer, halves away from zero (C's round).
double Round(double x);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_FLOAT_MATH_H_
