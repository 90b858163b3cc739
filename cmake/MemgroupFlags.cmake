# Compiler flags shared by every memgroup target.
#
# mg_malloc_path_target(T): flags for layers 0-3 and preload/ (the malloc path):
# no exceptions, no RTTI, hidden visibility, initial-exec TLS.

set(MG_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)

if(MG_SANITIZE STREQUAL "thread")
  set(MG_SAN_FLAGS -fsanitize=thread -g -O1)
elseif(MG_SANITIZE STREQUAL "address")
  set(MG_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer -g -O1)
elseif(MG_SANITIZE)
  message(FATAL_ERROR "MG_SANITIZE must be empty, thread or address (got '${MG_SANITIZE}')")
endif()
# MG_FUZZ: every object gets libFuzzer's coverage instrumentation
# (fuzzer-no-link), ASan and UBSan; the fuzz executables add
# -fsanitize=fuzzer (libFuzzer's main) themselves.
if(MG_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MG_FUZZ needs clang (cmake --preset fuzz); got ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(MG_SANITIZE)
    message(FATAL_ERROR "MG_FUZZ brings its own sanitizers: leave MG_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(MG_SANITIZER_BUILD=1)
endif()
if(MG_SAN_FLAGS)
  add_compile_options(${MG_SAN_FLAGS})
  add_link_options(${MG_SAN_FLAGS})
  add_compile_definitions(MG_SANITIZER_BUILD=1)
endif()

if(CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_definitions(MG_DEBUG=1)
endif()

function(mg_common_target t)
  target_compile_options(${t} PRIVATE ${MG_WARNINGS})
  target_include_directories(${t} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
endfunction()

function(mg_malloc_path_target t)
  mg_common_target(${t})
  target_compile_options(${t} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>
    -fvisibility=hidden -fno-semantic-interposition -ftls-model=initial-exec
    # Each function in a section of its own, so that libmemgroup.so's link
    # can gather the code every process runs (preload/start_text.ld).
    -ffunction-sections)
endfunction()
