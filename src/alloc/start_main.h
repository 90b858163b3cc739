// The program's start as glibc runs it: the logic of the __libc_start_main
// wrapper (the exported symbol is preload's forwarder). The program's _start
// calls __libc_start_main with its main; the wrapper hands glibc a main of
// its own that records, before calling the program's, that main has begun,
// so that a charge refused at MEMGROUP_MAX or a job's max before main is
// reported as the program's start-up need (group/refusal_notice.h).
// Must never: allocate through malloc. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_START_MAIN_H_
#define MEMGROUP_SRC_ALLOC_START_MAIN_H_

namespace memgroup::internal::alloc {

using MainFn = int (*)(int, char**, char**);

// glibc's __libc_start_main (found with dlsym(RTLD_NEXT)) with `main`
// wrapped; the other arguments are passed on unchanged. Never returns
// (glibc's exits); exits 127 with a line on stderr if glibc's cannot be
// found.
int StartMain(MainFn main, int argc, char** argv, void (*init)(),
              void (*fini)(), void (*rtld_fini)(), void* stack_end);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_START_MAIN_H_
