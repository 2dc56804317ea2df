# Cross-compiles bare-metal code for Espressif's RISC-V chips (ESP32-C2/C3/C5/C6/C61/H2) with
# Debian's clang and lld: no vendor toolchain needed.
#   cmake -DCMAKE_TOOLCHAIN_FILE=<EspTools>/cmake/toolchains/riscv32-esp-clang.cmake ...
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)

find_program(ESPTOOLS_CLANG NAMES clang clang-19 clang-16 clang-15 clang-14 REQUIRED)
set(CMAKE_C_COMPILER ${ESPTOOLS_CLANG})
set(CMAKE_ASM_COMPILER ${ESPTOOLS_CLANG})
set(CMAKE_C_COMPILER_TARGET riscv32-unknown-none-elf)
set(CMAKE_ASM_COMPILER_TARGET riscv32-unknown-none-elf)

set(ESPTOOLS_RISCV_ARCH_FLAGS "-march=rv32imc -mabi=ilp32")
set(CMAKE_C_FLAGS_INIT "${ESPTOOLS_RISCV_ARCH_FLAGS} -ffreestanding -fno-builtin -ffunction-sections -fdata-sections -msmall-data-limit=0 -mno-relax")
set(CMAKE_ASM_FLAGS_INIT "${ESPTOOLS_RISCV_ARCH_FLAGS} -mno-relax")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-nostdlib -fuse-ld=lld -Wl,--gc-sections -Wl,--build-id=none")

# Test programs cannot run on the build machine.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
