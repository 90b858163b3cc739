# Installation of libmemgroup.so: the library, the headers, a CMake package
# (find_package(memgroup) -> memgroup::memgroup), two pkg-config files
# (memgroup for C and C++, memgroup-c for C alone) and the man pages
# memgroup(1) and memgroup(3) (the command itself installs from src/cli;
# cmake/Package.cmake makes a Debian package of all this). Included from the
# top-level CMakeLists.txt when the target memgroup exists (not in the
# sanitizer builds, which have no preload/).
#
# memgroup.h is plain C. memgroup.hpp is header-only over it but calls into
# Abseil: absl::Status and its canonical-code helpers (absl::status),
# absl::StatusOr (absl::statusor), absl::StrCat (absl::strings). Those are
# link dependencies of the C++ user, not of libmemgroup.so, so:
#   - memgroup::memgroup carries them for targets whose link language is C++
#     only ($<LINK_LANGUAGE:CXX>): a C program links libmemgroup.so alone;
#   - memgroup.pc Requires Debian's absl_status, absl_statusor and
#     absl_strings modules; memgroup-c.pc has no Abseil.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MG_CPP_ABSL_TARGETS absl::status absl::statusor absl::strings)
set(MG_CPP_ABSL_PC_MODULES "absl_status absl_statusor absl_strings")
set(_mg_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/memgroup)
set(_mg_gen_dir ${PROJECT_BINARY_DIR}/package)

# The build tree's own users (tests/cpp) link the Abseil targets themselves;
# only the exported target gets them.
set(_mg_absl_link "")
foreach(t IN LISTS MG_CPP_ABSL_TARGETS)
  list(APPEND _mg_absl_link "$<INSTALL_INTERFACE:$<$<LINK_LANGUAGE:CXX>:${t}>>")
endforeach()
target_link_libraries(memgroup INTERFACE ${_mg_absl_link})

install(TARGETS memgroup EXPORT memgroupTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/memgroup
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT memgroupTargets NAMESPACE memgroup:: DESTINATION ${_mg_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/memgroupConfig.cmake.in
  ${_mg_gen_dir}/memgroupConfig.cmake INSTALL_DESTINATION ${_mg_cmake_dir})
write_basic_package_version_file(${_mg_gen_dir}/memgroupConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${_mg_gen_dir}/memgroupConfig.cmake
              ${_mg_gen_dir}/memgroupConfigVersion.cmake
        DESTINATION ${_mg_cmake_dir})

# The .pc files find the prefix relative to themselves (${pcfiledir}), so an
# installed tree can be moved: two levels up from lib/pkgconfig, three from
# Debian's lib/x86_64-linux-gnu/pkgconfig (the libdir with prefix /usr).
file(RELATIVE_PATH MG_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" MG_PC_TO_PREFIX "${MG_PC_TO_PREFIX}")
set(MG_PC_NAME memgroup)
set(MG_PC_DESCRIPTION "Per-group memory limits with Linux memcg semantics (malloc replacement, C ABI and the Abseil-based C++ layer)")
set(MG_PC_REQUIRES "Requires: ${MG_CPP_ABSL_PC_MODULES}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/memgroup.pc.in ${_mg_gen_dir}/memgroup.pc @ONLY)
set(MG_PC_NAME memgroup-c)
set(MG_PC_DESCRIPTION "Per-group memory limits with Linux memcg semantics (malloc replacement and C ABI; memgroup.h only)")
set(MG_PC_REQUIRES "")
configure_file(${PROJECT_SOURCE_DIR}/cmake/memgroup.pc.in ${_mg_gen_dir}/memgroup-c.pc @ONLY)
install(FILES ${_mg_gen_dir}/memgroup.pc ${_mg_gen_dir}/memgroup-c.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages: the roff sources of docs/man, compressed as Debian installs them
# (gzip -9n: no file name or time stamp inside, so a source gives one file).
find_program(MG_GZIP gzip REQUIRED)
set(_mg_man_pages "")
foreach(page memgroup.1 memgroup.3)
  string(REGEX REPLACE "^.*\\." "" _mg_section ${page})
  set(_mg_src ${PROJECT_SOURCE_DIR}/docs/man/${page})
  set(_mg_gz ${_mg_gen_dir}/man/${page}.gz)
  add_custom_command(OUTPUT ${_mg_gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_mg_gen_dir}/man
    COMMAND sh -c "\"$0\" -9nc \"$1\" > \"$2\"" ${MG_GZIP} ${_mg_src} ${_mg_gz}
    DEPENDS ${_mg_src}
    COMMENT "Compressing man page ${page}"
    VERBATIM)
  list(APPEND _mg_man_pages ${_mg_gz})
  install(FILES ${_mg_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_mg_section})
endforeach()
add_custom_target(memgroup_man ALL DEPENDS ${_mg_man_pages})
