// Espressif's ROM ELF files (github.com/espressif/esp-rom-elfs, which ESP-IDF installs and names in
// $ESP_ROM_ELF_DIR): the symbols of a chip's mask ROM, one file per ROM revision. A panic's ROM
// addresses can be named only from these: on RISC-V chips the addresses in ESP-IDF's
// components/esp_rom/<chip>/ld/*.rom.ld are entries of a jump table, not the functions' code.
#pragma once

#include <llvm/Support/Error.h>

#include <cstdint>
#include <optional>
#include <string>

namespace esptools::loader {

struct RomElf {
    std::string path;
    uint32_t revision; // the ROM's, major * 100 + minor, as in the file name
};

// The ROM ELF for a chip of this revision (major * 100 + minor) in `directory`, whose files are
// named <chip>_rev<N>_rom.elf: the one of the chip's revision, or else of the newest revision
// before it (a ROM is shared by the revisions that did not change it; esp-rom-elfs' README,
// "Choosing the ROM ELF file"). Nothing when the directory has none for the chip.
llvm::Expected<std::optional<RomElf>> findRomElf(const std::string &directory,
                                                 const std::string &chip, uint32_t chip_revision);

} // namespace esptools::loader
