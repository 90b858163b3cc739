# Provides the IMPORTED static library `mg_jemalloc_private`: Debian's
# libjemalloc_pic.a with its public names renamed to `mgje_*` (see
# RenameJemalloc.cmake). Owns: locating the archive and header, the build-time
# rename step and the imported target. Must never link the system
# libjemalloc.so or let the renamed archive's symbols be exported from a
# shared object (see the --exclude-libs note below).
#
# Included from src/engine/CMakeLists.txt. Defines:
#   mg_jemalloc_private          IMPORTED GLOBAL static library (link it)
#   MG_JEMALLOC_INCLUDE_DIR      directory holding jemalloc/jemalloc.h
#   MG_JEMALLOC_PRIVATE_ARCHIVE  path of the renamed archive
#   MG_JEMALLOC_PRIVATE_ARCHIVE_NAME  its file name (for --exclude-libs)

if(TARGET mg_jemalloc_private)
  return()
endif()

find_file(MG_JEMALLOC_PIC_ARCHIVE NAMES libjemalloc_pic.a
          PATHS /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib
          REQUIRED)
find_path(MG_JEMALLOC_INCLUDE_DIR NAMES jemalloc/jemalloc.h REQUIRED)
if(NOT CMAKE_OBJCOPY)
  find_program(CMAKE_OBJCOPY objcopy REQUIRED)
endif()
if(NOT CMAKE_NM)
  find_program(CMAKE_NM nm REQUIRED)
endif()

set(MG_JEMALLOC_PRIVATE_ARCHIVE_NAME libmgje_jemalloc.a)
set(_mg_je_dir ${CMAKE_BINARY_DIR}/jemalloc_private)
set(MG_JEMALLOC_PRIVATE_ARCHIVE ${_mg_je_dir}/${MG_JEMALLOC_PRIVATE_ARCHIVE_NAME})
set(_mg_je_script ${CMAKE_CURRENT_LIST_DIR}/RenameJemalloc.cmake)

add_custom_command(
  OUTPUT ${MG_JEMALLOC_PRIVATE_ARCHIVE}
  COMMAND ${CMAKE_COMMAND}
          -DMG_AR=${CMAKE_AR} -DMG_NM=${CMAKE_NM} -DMG_OBJCOPY=${CMAKE_OBJCOPY}
          -DMG_IN=${MG_JEMALLOC_PIC_ARCHIVE} -DMG_WORK_DIR=${_mg_je_dir}/work
          -DMG_OUT=${MG_JEMALLOC_PRIVATE_ARCHIVE} -DMG_PREFIX=mgje_
          -P ${_mg_je_script}
  DEPENDS ${MG_JEMALLOC_PIC_ARCHIVE} ${_mg_je_script}
  COMMENT "Building the private renamed jemalloc (mgje_*)"
  VERBATIM)
add_custom_target(mg_jemalloc_private_build DEPENDS ${MG_JEMALLOC_PRIVATE_ARCHIVE})

add_library(mg_jemalloc_private STATIC IMPORTED GLOBAL)
# jemalloc's own imports: pthreads, libm (exp, log, round), dl (dlsym, only
# with lazy_lock, which Debian's build does not use).
set_target_properties(mg_jemalloc_private PROPERTIES
  IMPORTED_LOCATION ${MG_JEMALLOC_PRIVATE_ARCHIVE}
  INTERFACE_LINK_LIBRARIES "Threads::Threads;m;${CMAKE_DL_LIBS}")
add_dependencies(mg_jemalloc_private mg_jemalloc_private_build)
