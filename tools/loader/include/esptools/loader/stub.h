// The flasher stub as esptool packages it: one JSON per chip (entry, text, text_start, data,
// data_start, bss_start; text and data in base64). Ours are built from stub/ and embedded;
// --stub-dir loads others in the same form (for example esptool's own).
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/Error.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace esptools::loader {

struct EmbeddedStub {
    const char *name; // the JSON's file name without .json: "esp32c3", "esp32p4-rev1"
    const char *json;
};
extern const EmbeddedStub kEmbeddedStubs[]; // ends with {nullptr, nullptr}

struct StubImage {
    std::string origin; // where it came from, for messages
    uint32_t entry = 0;
    uint32_t text_start = 0;
    std::vector<uint8_t> text;
    uint32_t data_start = 0;
    std::vector<uint8_t> data;
    std::optional<uint32_t> bss_start;
    // Ours (embedded): answers to *_DATA carry the block's sequence number in the value field.
    bool numbers_data_answers = false;
    // Ours: answers SPI_FLASH_SECTOR_DIGESTS (the MD5 of each sector of a region, one reply).
    bool sector_digests = false;

    // The RAM the running stub occupies (esptool's overlap rule, protocol.md §15.1).
    bool overlaps(uint32_t start, uint32_t end) const;
    std::string residentRanges() const;
};

llvm::Expected<StubImage> parseStubJson(std::string_view json, const std::string &origin);

// The JSON name esptool looks for: the chip's name, or its older-revision variant.
std::string stubName(const chipdb::ChipDescription &chip, uint32_t revision);

// Where Espressif's own stubs may be, in the order they are tried: ESPTOOL_STUB_DIR, esptool's
// Python package (a virtualenv, ~/.local, /usr/local, /usr), ESP-IDF's copy under IDF_PATH.
std::vector<std::string> espressifStubFiles(const std::string &name);

// From stub_dir/<name>.json when stub_dir is given; else ours (embedded), else the first of
// espressifStubFiles; nullopt when there is none for this chip.
llvm::Expected<std::optional<StubImage>> findStub(const std::string &name,
                                                  const std::string &stub_dir);

} // namespace esptools::loader
