// Intel HEX: the reader used wherever esptool accepts .hex input (write-flash, merge-bin,
// image-info, load-ram), and the writer merge-bin --format hex uses (python intelhex's layout).
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <span>
#include <vector>

namespace esptools::formats {

struct HexRegion {
    uint32_t address = 0;
    std::vector<uint8_t> data;
};

// True when the file looks like Intel HEX (esptool's test: the first byte is ':').
bool looksLikeIntelHex(std::span<const uint8_t> bytes);

// Parses Intel HEX into contiguous regions sorted by address. Errors name file_name and line.
llvm::Expected<std::vector<HexRegion>> parseIntelHex(std::span<const uint8_t> bytes,
                                                     llvm::StringRef file_name);

// Writes regions as esptool's merge-bin does: type-04 records only when an address exceeds 0xFFFF,
// 16-byte data records from each region's start, LF line ends, ':00000001FF' last.
std::vector<uint8_t> writeIntelHex(std::span<const HexRegion> regions);

} // namespace esptools::formats
