# Build-time script (cmake -P) that turns Debian's libjemalloc_pic.a into
# memgroup's private jemalloc copy. Owns: extracting the archive, dropping the
# C++ operators object and jemalloc's library constructor, renaming every
# public jemalloc symbol to the `mgje_` prefix, and redirecting jemalloc's
# imports of mmap/munmap/mremap/madvise/mprotect/secure_getenv/readlink/
# pthread_key_create/pthread_setspecific/pthread_atfork/exp/log/round to
# hidden wrappers of ours (src/engine/jemalloc_glue.cc, thread_exit.cc,
# fork.cc).
# Must never depend on the smallocx_<hash> name or any other version detail:
# the rename list is generated from `nm -g --defined-only`.
#
# Inputs (-D): MG_AR, MG_NM, MG_OBJCOPY, MG_IN (libjemalloc_pic.a),
#              MG_WORK_DIR (scratch dir), MG_OUT (output archive path),
#              MG_PREFIX (mgje_).

cmake_minimum_required(VERSION 3.25)

foreach(v MG_AR MG_NM MG_OBJCOPY MG_IN MG_WORK_DIR MG_OUT MG_PREFIX)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "RenameJemalloc.cmake: ${v} is not set")
  endif()
endforeach()

set(objdir "${MG_WORK_DIR}/objs")
file(REMOVE_RECURSE "${MG_WORK_DIR}")
file(MAKE_DIRECTORY "${objdir}")

execute_process(COMMAND "${MG_AR}" x "${MG_IN}"
                WORKING_DIRECTORY "${objdir}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar x ${MG_IN} failed: ${rc}")
endif()

# jemalloc_cpp.pic.o defines operator new/delete that call malloc/free by
# their public names: memgroup defines its own operators.
file(REMOVE "${objdir}/jemalloc_cpp.pic.o")

file(GLOB objs RELATIVE "${objdir}" "${objdir}/*.o")
list(SORT objs)
if(NOT objs)
  message(FATAL_ERROR "no objects extracted from ${MG_IN}")
endif()

# Every defined global that is not a je_* internal is part of jemalloc's
# public surface (malloc, mallctl, malloc_conf, smallocx_<hash>, ...).
execute_process(COMMAND "${MG_NM}" -g --defined-only ${objs}
                WORKING_DIRECTORY "${objdir}" OUTPUT_VARIABLE nm_out
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed: ${rc}")
endif()
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(public_syms "")
foreach(line IN LISTS nm_lines)
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ ]+)$")
    set(sym "${CMAKE_MATCH_1}")
    if(NOT sym MATCHES "^je_" AND NOT sym MATCHES "^_")
      list(APPEND public_syms "${sym}")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES public_syms)
list(SORT public_syms)
foreach(required malloc free mallocx sdallocx mallctl malloc_conf
        malloc_conf_2_conf_harder malloc_message)
  if(NOT required IN_LIST public_syms)
    message(FATAL_ERROR "jemalloc archive does not define '${required}'")
  endif()
endforeach()

set(map "")
foreach(sym IN LISTS public_syms)
  string(APPEND map "${sym} ${MG_PREFIX}${sym}\n")
endforeach()
# libc imports redirected to memgroup's hidden wrappers: the memory calls so
# that jemalloc never reaches memgroup's exported (interposing) mmap family,
# the configuration sources so that the user's MALLOC_CONF and
# /etc/malloc.conf never reach our instance, and the thread-specific-data key
# calls so that jemalloc's per-thread cleanup can be deferred past other key
# destructors (see JeTsdTrampoline in src/engine/thread_exit.cc), and the
# heap profiler's exp/log/round so that the library does not need libm.so.6
# (src/base/float_math.h), and pthread_atfork so that memgroup's own fork
# handlers run jemalloc's, and only when the process has more than one
# thread (src/engine/fork.cc). Entries for symbols a given jemalloc build
# does not import are harmless.
foreach(sym mmap munmap mremap madvise mprotect secure_getenv readlink
        pthread_key_create pthread_setspecific pthread_atfork exp log round)
  string(APPEND map "${sym} ${MG_PREFIX}sys_${sym}\n")
endforeach()
file(WRITE "${MG_WORK_DIR}/rename.map" "${map}")

# jemalloc's library constructor (jemalloc_constructor, the one .init_array
# entry) goes: it would initialise jemalloc in every process, also in those
# that run the mimalloc engine and never call it (74,000 instructions and
# about 70 page faults at start-up). jemalloc initialises itself on its first
# call instead, which the jemalloc engine makes in its own initialisation
# (src/engine/engine_init.cc), before memgroup's constructor returns.
foreach(o IN LISTS objs)
  execute_process(COMMAND "${MG_OBJCOPY}" "--redefine-syms=${MG_WORK_DIR}/rename.map"
                          --remove-section=.init_array "${o}"
                  WORKING_DIRECTORY "${objdir}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objcopy ${o} failed: ${rc}")
  endif()
endforeach()

# Verify: no object still imports a name that memgroup (or the program)
# exports, and none still defines an unprefixed public name.
execute_process(COMMAND "${MG_NM}" -u ${objs} WORKING_DIRECTORY "${objdir}"
                OUTPUT_VARIABLE undef_out)
string(REPLACE "\n" ";" undef_lines "${undef_out}")
foreach(line IN LISTS undef_lines)
  if(line MATCHES "^ +U ([^ ]+)$")
    set(sym "${CMAKE_MATCH_1}")
    if(sym MATCHES "^(malloc|free|calloc|realloc|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|mallocx|rallocx|xallocx|sallocx|dallocx|sdallocx|nallocx|mallctl.*|malloc_.*|mmap|mmap64|munmap|mremap|madvise|mprotect|getenv|secure_getenv|readlink|pthread_key_create|pthread_setspecific|pthread_atfork|exp|log|round)$")
      message(FATAL_ERROR "renamed jemalloc still imports '${sym}'")
    endif()
  endif()
endforeach()
execute_process(COMMAND "${MG_NM}" -g --defined-only ${objs}
                WORKING_DIRECTORY "${objdir}" OUTPUT_VARIABLE def_out)
string(REPLACE "\n" ";" def_lines "${def_out}")
foreach(line IN LISTS def_lines)
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ ]+)$")
    set(sym "${CMAKE_MATCH_1}")
    if(NOT sym MATCHES "^(je_|_|${MG_PREFIX})")
      message(FATAL_ERROR "renamed jemalloc still defines '${sym}'")
    endif()
  endif()
endforeach()

set(tmp "${MG_OUT}.tmp")
file(REMOVE "${tmp}")
execute_process(COMMAND "${MG_AR}" rcs "${tmp}" ${objs}
                WORKING_DIRECTORY "${objdir}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar rcs failed: ${rc}")
endif()
file(RENAME "${tmp}" "${MG_OUT}")
