// Building firmware images as esptool's elf2image (v5) and make_image (v4) do, byte for byte.
#pragma once

#include "esptools/chipdb/chip.h"
#include "esptools/imagegen/elf_reader.h"

#include <llvm/Support/Error.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace esptools::imagegen {

struct Elf2ImageOptions {
    const chipdb::ChipDescription *chip = nullptr;
    std::string input_name;  // names the ELF file in error messages
    int esp8266_version = 1; // 1, 2 or 3 (ESP8266 only)
    std::string flash_mode = "qio";
    std::string flash_freq; // empty: frequency code 0
    std::string flash_size = "1MB";
    uint32_t min_rev = 0;
    uint32_t min_rev_full = 0;
    uint32_t max_rev_full = 0xFFFF;
    bool secure_pad = false; // ESP32 only (Secure Boot v1)
    bool secure_pad_v2 = false;
    std::optional<uint32_t> elf_sha256_offset;
    bool append_digest = true;
    bool use_segments = false;
    bool ram_only_header = false;
    std::optional<uint32_t> flash_mmu_page_size;
    std::optional<uint32_t> pad_to_size;
};

struct BuiltImage {
    std::vector<uint8_t> image; // ESP8266 v1: the file for offset 0x00000
    // ESP8266 v1: the raw IROM file; v2: only its offset (it names the default output file).
    std::optional<uint32_t> irom_offset;
    std::vector<uint8_t> irom_data;
    std::vector<std::string> notes;    // what esptool prints on stdout, in order
    std::vector<std::string> warnings; // what esptool prints as warnings
};

llvm::Expected<BuiltImage> elf2image(const ElfInput &elf, const Elf2ImageOptions &options);

// The sections (or, with use_segments, program headers) the chip maps from flash: an image that
// has any cannot run from RAM alone (load-ram).
std::vector<ElfChunk> flashMappedChunks(const ElfInput &elf, const Elf2ImageOptions &options);

// make_image (esptool v4, ESP8266): a v1 image from raw segments, entry point as given.
struct RawSegment {
    uint32_t address = 0;
    std::vector<uint8_t> data;
};
// ESP8266 image files are named by flash offset: prefix + "0x01000.bin" (Python's "#07x").
std::string esp8266FileName(const std::string &prefix, uint32_t offset);

llvm::Expected<BuiltImage> makeEsp8266Image(std::vector<RawSegment> segments, uint32_t entry);

} // namespace esptools::imagegen
