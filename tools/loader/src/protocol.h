// The serial protocol's opcodes (the ROM loader's, and the stubs' additions from 0xD0) and its
// little-endian words: shared by the device layer and the commands. Internal to tools/loader/src.
#pragma once

#include <cstdint>
#include <vector>

namespace esptools::loader::protocol {

enum : uint8_t {
    kFlashBegin = 0x02,
    kFlashData = 0x03,
    kFlashEnd = 0x04,
    kMemBegin = 0x05,
    kMemEnd = 0x06,
    kMemData = 0x07,
    kSync = 0x08,
    kWriteReg = 0x09,
    kReadReg = 0x0A,
    kSpiSetParams = 0x0B,
    kSpiAttach = 0x0D,
    kReadFlashSlow = 0x0E,
    kChangeBaudrate = 0x0F,
    kFlashDeflBegin = 0x10,
    kFlashDeflData = 0x11,
    kFlashDeflEnd = 0x12,
    kSpiFlashMd5 = 0x13,
    kGetSecurityInfo = 0x14,
    kEraseFlash = 0xD0,
    kEraseRegion = 0xD1,
    kReadFlash = 0xD2,
    // Our stub's (stub/core/protocol.h): the MD5 of each sector of a region, in one reply.
    kSpiFlashSectorDigests = 0xF0,
};
// The most sectors one SPI_FLASH_SECTOR_DIGESTS request may name (STUB_MAX_SECTOR_DIGESTS).
inline constexpr uint32_t kMaxSectorDigests = 4000;

inline void put32(std::vector<uint8_t> &out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

inline uint32_t get32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

} // namespace esptools::loader::protocol
