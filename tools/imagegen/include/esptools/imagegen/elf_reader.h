// Reads what elf2image needs from a 32-bit little-endian ELF file, with LLVM's libObject.
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace esptools::imagegen {

// A loadable piece of the ELF: a section (named) or a PT_LOAD program header (named "PHDR").
// Its data points into the ELF file's bytes, which must outlive it.
struct ElfChunk {
    std::string name;
    uint32_t address = 0;
    std::span<const uint8_t> data;
    uint32_t align = 4;
};

struct ElfInput {
    uint32_t entry = 0;
    uint16_t machine = 0;
    std::vector<ElfChunk> sections; // PROGBITS/INIT/FINI/PREINIT_ARRAY with address and size != 0
    std::vector<ElfChunk> segments; // PT_LOAD with p_paddr and p_filesz != 0
    std::span<const uint8_t> file; // the whole ELF (hashed only where an image carries its SHA-256)
    std::vector<std::string> warnings;
};

inline constexpr uint16_t kElfMachineXtensa = 0x5E;
inline constexpr uint16_t kElfMachineRiscV = 0xF3;

// Errors name file_name and what is wrong (not an ELF, truncated, wrong class, wrong machine).
llvm::Expected<ElfInput> readElf(std::span<const uint8_t> bytes, llvm::StringRef file_name);

// Checks that the ELF's machine suits the chip's CPU.
llvm::Error checkElfMachine(const ElfInput &elf, const chipdb::ChipDescription &chip,
                            llvm::StringRef file_name);

} // namespace esptools::imagegen
