# Every dependency comes from Debian's packages (scripts/install-deps.sh installs them).

# LLVM: libObject reads ELF files, Support gives Expected<T>, MD5 and SHA-256, Symbolize names
# code addresses from DWARF (the monitor). Linking the static
# component libraries keeps a tool's start-up in milliseconds (the shared libLLVM costs ~50 ms).
# The code is written against LLVM 14 (Debian 12's llvm-dev): later versions removed APIs it uses
# (llvm::Optional, StringRef::startswith). With several installed, take 14, not the newest.
find_package(LLVM REQUIRED CONFIG NO_DEFAULT_PATH
             PATHS /usr/lib/llvm-14/lib/cmake/llvm /usr/local/lib/cmake/llvm /usr/lib/cmake/llvm)
if(NOT LLVM_VERSION_MAJOR EQUAL 14)
  message(FATAL_ERROR "LLVM ${LLVM_PACKAGE_VERSION} found at ${LLVM_DIR}, but EspTools builds with "
    "LLVM 14: apt-get install llvm-14-dev, or pass -DLLVM_DIR=<LLVM 14's lib/cmake/llvm>")
endif()
message(STATUS "LLVM ${LLVM_PACKAGE_VERSION} from ${LLVM_DIR}")
llvm_map_components_to_libnames(ESPTOOLS_LLVM_LIBS object support symbolize)
add_library(esptools_llvm INTERFACE)
target_include_directories(esptools_llvm SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS})
target_compile_definitions(esptools_llvm INTERFACE ${LLVM_DEFINITIONS})
target_link_libraries(esptools_llvm INTERFACE ${ESPTOOLS_LLVM_LIBS})
if(NOT LLVM_ENABLE_RTTI)
  # LLVM's static libraries are built without RTTI; classes deriving from its types must match.
  set(ESPTOOLS_LLVM_NO_RTTI ON)
endif()
target_link_options(esptools_llvm INTERFACE -Wl,--gc-sections)

# Static Boost, OpenSSL and libstdc++: a tool that runs in milliseconds should not spend them
# relocating shared libraries at start-up.
set(Boost_USE_STATIC_LIBS ON)
set(OPENSSL_USE_STATIC_LIBS ON)
add_link_options(-static-libstdc++ -static-libgcc)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(ZLIB REQUIRED)
# libdeflate compresses flash images: a better ratio than zlib's level 9 in the same time, which is
# time saved on the serial link.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
if(ESPTOOLS_TESTS)
  find_package(GTest REQUIRED)
endif()
