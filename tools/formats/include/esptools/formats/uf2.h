// UF2 as esptool's merge-bin writes it: 512-byte blocks, family id, optional MD5 extension.
#pragma once

#include "esptools/formats/ihex.h"

#include <cstdint>
#include <span>
#include <vector>

namespace esptools::formats {

struct Uf2Options {
    uint32_t family_id = 0;
    bool md5 = true;
    uint32_t chunk_size = 0; // 0: the largest that fits (452 with MD5, 476 without)
};

// Each region is numbered on its own (block_no 0..n-1, num_blocks n), as esptool does.
std::vector<uint8_t> writeUf2(std::span<const HexRegion> regions, const Uf2Options &options);

} // namespace esptools::formats
