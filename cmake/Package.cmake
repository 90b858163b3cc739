# The Debian package of memgroup, built with `cpack -G DEB` in the build tree
# (CPackConfig.cmake): everything the install rules install (libmemgroup.so,
# the `memgroup` command, the headers, the pkg-config files, the CMake
# package and the man pages, cmake/Install.cmake and src/cli), under /usr.
# Depends is computed by dpkg-shlibdeps from the ELF files (libc6, libstdc++6,
# libgcc-s1 and the Abseil libraries the command links; jemalloc is built
# into libmemgroup.so). Included from the top-level CMakeLists.txt after
# cmake/Install.cmake, when the target memgroup exists.
set(MG_PACKAGE_MAINTAINER "memgroup maintainers <maintainers@memgroup.invalid>"
    CACHE STRING "Maintainer field of the Debian package (Name <address>)")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME memgroup)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${MG_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "per-group memory limits with Linux memory-cgroup semantics, without root")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Only what the install rules install: no build tree, no source tree.
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME memgroup)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # memgroup_VERSION-1_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${MG_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The extended description: cpack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY
# before it as the synopsis line and indents every line as deb-control(5)
# wants.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"memgroup gives a program, or groups of threads inside a program, the memory
limits of a Linux memory cgroup (max, high, low, min, an out-of-memory
policy, events, statistics and pressure) in user space, through a malloc
replacement.
.
This package contains libmemgroup.so (the malloc, operator new and mmap
replacement, and its C interface), the `memgroup run` command that starts a
program under a limit shared by its whole process tree, the C and C++
headers, pkg-config files (memgroup, memgroup-c), a CMake package
(find_package(memgroup)) and the man pages memgroup(1) and memgroup(3).")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs control file for libmemgroup.so.0, and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# cpack's postinst and postrm call ldconfig for a library in /usr/lib; the
# trigger is what dpkg and lintian expect of a shared-library package.
file(WRITE ${PROJECT_BINARY_DIR}/package/deb/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/package/deb/triggers)

include(CPack)
