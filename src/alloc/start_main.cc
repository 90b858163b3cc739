// Implements start_main.h.
//
// SYNCHRONIZATION
// - g_main: written once by the main thread before glibc's
//   __libc_start_main runs (no other thread of the program reads it), read
//   by the same thread in WrappedMain.
#include "alloc/start_main.h"

#include <dlfcn.h>
#include <unistd.h>

#include "alloc/init.h"
#include "base/raw_log.h"
#include "group/refusal_notice.h"

namespace memgroup::internal::alloc {
namespace {

using StartMainFn = int (*)(MainFn, int, char**, void (*)(), void (*)(),
                            void (*)(), void*);

constinit MainFn g_main = nullptr;

int WrappedMain(int argc, char** argv, char** envp) {
  SetStartPhase(StartPhase::kInMain);
  return g_main(argc, argv, envp);
}

}  // namespace

int StartMain(MainFn main, int argc, char** argv, void (*init)(),
              void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  // The constructor initialised the library already (preload/init.cc);
  // this makes sure of it before the phase is set.
  (void)EnsureInit();
  // dlsym does not allocate when the name exists (glibc 2.36).
  const auto next = reinterpret_cast<StartMainFn>(
      dlsym(RTLD_NEXT, "__libc_start_main"));
  if (next == nullptr) {
    RawLog("cannot find glibc's __libc_start_main: cannot start the program");
    _exit(127);
  }
  g_main = main;
  SetStartPhase(StartPhase::kBeforeMain);
  return next(WrappedMain, argc, argv, init, fini, rtld_fini, stack_end);
}

}  // namespace memgroup::internal::alloc
