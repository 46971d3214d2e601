# Third-party dependencies, all from Debian 12 packages (scripts/setup installs them).
# Nothing is vendored or downloaded at build time.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# --- LLVM 19 (specialized backend). The package config rejects a bare "19" version request,
# so find it by location and assert the major version ourselves.
find_package(LLVM REQUIRED CONFIG HINTS /usr/lib/llvm-19/lib/cmake/llvm NO_DEFAULT_PATH)
if(NOT LLVM_VERSION_MAJOR EQUAL 19)
  message(FATAL_ERROR "KRSIE needs LLVM 19, found ${LLVM_PACKAGE_VERSION} at ${LLVM_DIR}")
endif()
message(STATUS "KRSIE: LLVM ${LLVM_PACKAGE_VERSION} (${LLVM_DIR})")
add_library(krsie_llvm INTERFACE)
target_include_directories(krsie_llvm SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS})
target_compile_definitions(krsie_llvm INTERFACE ${LLVM_DEFINITIONS})
target_link_libraries(krsie_llvm INTERFACE LLVM)   # the shared libLLVM-19.so
set(KRSIE_LLVM_TOOLS_DIR "${LLVM_TOOLS_BINARY_DIR}")

# --- ANTLR4: the 4.7.2 tool (Java) generates code that the 4.9 C++ runtime accepts.
find_package(antlr4-runtime REQUIRED CONFIG)
find_package(Java REQUIRED COMPONENTS Runtime)
add_library(krsie_antlr INTERFACE)
target_include_directories(krsie_antlr SYSTEM INTERFACE ${ANTLR4_INCLUDE_DIR})
target_link_libraries(krsie_antlr INTERFACE antlr4_shared)

# --- fmt: header-only so static guest binaries need no libfmt.so (Debian ships no libfmt.a).
find_package(fmt REQUIRED CONFIG)

# --- CLI11 and nlohmann-json (header-only).
find_package(CLI11 REQUIRED CONFIG)
find_package(nlohmann_json REQUIRED CONFIG)

# --- mimalloc: krsiec's allocator. The front end, the table lowering and LLVM allocate millions of
# small objects; with glibc's malloc a 10,000-rule compile spent ~21 % of its instructions in
# malloc/free (docs/performance.md, section 1). Linked into krsiec only: it overrides malloc for the
# whole process (the shared library comes before libc). Not for krsie-load, which links statically.
find_package(mimalloc 2.0 REQUIRED CONFIG)

# --- libbpf 1.1 and what a static link of it needs.
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.1)
find_library(KRSIE_LIBBPF_A NAMES libbpf.a REQUIRED)
find_library(KRSIE_LIBELF_A NAMES libelf.a REQUIRED)
find_library(KRSIE_LIBZ_A NAMES libz.a REQUIRED)
find_library(KRSIE_LIBZSTD_A NAMES libzstd.a REQUIRED)
# krsie_libbpf_static: libbpf and its dependencies as archives, for fully static node and guest
# binaries (krsie-load, the guest test driver) that run on any kernel/distribution.
add_library(krsie_libbpf_static INTERFACE)
target_include_directories(krsie_libbpf_static SYSTEM INTERFACE ${LIBBPF_INCLUDE_DIRS})
target_link_libraries(krsie_libbpf_static INTERFACE
  ${KRSIE_LIBBPF_A} ${KRSIE_LIBELF_A} ${KRSIE_LIBZ_A} ${KRSIE_LIBZSTD_A})

# --- Tools used at build time.
find_program(KRSIE_CLANG NAMES clang-19 HINTS ${LLVM_TOOLS_BINARY_DIR} REQUIRED)
find_program(KRSIE_BPFTOOL NAMES bpftool HINTS /usr/sbin /sbin REQUIRED)
find_program(KRSIE_LLVM_STRIP NAMES llvm-strip-19 llvm-strip HINTS ${LLVM_TOOLS_BINARY_DIR} REQUIRED)
find_package(Python3 REQUIRED COMPONENTS Interpreter)
