# The ESP8266 stub's cross build (Xtensa lx106, call0 ABI) with Debian's gcc-xtensa-lx106: compiler,
# flags and sources, shared by stub/CMakeLists.txt (the stub itself) and tests/stub_esp8266 (its
# QEMU smoke test). Commands using them run in stub/ with paths relative to it.
# Sets ESPTOOLS_XTENSA_CC (false when the compiler is not installed) and, when it is,
# ESPTOOLS_XTENSA_CC_VERSION: the first line of its --version, which BUILDINFO records.
find_program(ESPTOOLS_XTENSA_CC NAMES xtensa-lx106-elf-gcc)
if(ESPTOOLS_XTENSA_CC)
  execute_process(COMMAND ${ESPTOOLS_XTENSA_CC} --version OUTPUT_VARIABLE version_text)
  string(REGEX MATCH "^[^\n]*" ESPTOOLS_XTENSA_CC_VERSION "${version_text}")
endif()

get_filename_component(ESPTOOLS_STUB_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(ESPTOOLS_XTENSA_STUB_FLAGS
  -Os -std=c11 -ffreestanding -fno-builtin -ffunction-sections -fdata-sections
  # ROM routines are far from IRAM (l32r + callx0); literals stay next to the code that uses them.
  -mlongcalls -mtext-section-literals
  -Wall -Wextra -Werror -nostdlib -Wl,--gc-sections -Wl,--build-id=none
  # Paths in the output must not depend on where the tree is checked out.
  -ffile-prefix-map=${ESPTOOLS_STUB_SOURCE_DIR}=stub)
set(ESPTOOLS_XTENSA_STUB_CORE_SOURCES core/flash.c core/inflate.c core/md5.c core/memory.c core/stub.c)
set(ESPTOOLS_XTENSA_STUB_HEADERS core/flash.h core/inflate.h core/md5.h core/protocol.h core/stub.h
  core/stub_hal.h chips/esp8266/chip.h)
set(ESPTOOLS_XTENSA_STUB_SCRIPTS chips/esp8266/memory.ld chips/esp8266/rom.ld ld/sections.ld)
