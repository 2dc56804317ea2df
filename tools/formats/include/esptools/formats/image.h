// The Espressif firmware image format (../shared/reference/image-format.md): headers, segments,
// checksum, digest, and a parser for every variant (ESP8266 v1/v2, ESP32 family).
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace esptools::formats {

inline constexpr uint8_t kImageMagic = 0xE9;
inline constexpr uint8_t kEsp8266V2Magic = 0xEA;
inline constexpr uint8_t kChecksumSeed = 0xEF;
inline constexpr uint8_t kWpPinDisabled = 0xEE;
inline constexpr size_t kCommonHeaderSize = 8;
inline constexpr size_t kExtendedHeaderSize = 16;
inline constexpr size_t kSegmentHeaderSize = 8;
inline constexpr size_t kDigestSize = 32;
inline constexpr size_t kMaxSegments = 16;
inline constexpr uint32_t kMaxSegmentLength = 0x1000000;

inline uint32_t readLE32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint16_t readLE16(const uint8_t *p) {
    return uint16_t(p[0] | p[1] << 8);
}
inline void appendLE32(std::vector<uint8_t> &out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
inline void appendLE16(std::vector<uint8_t> &out, uint16_t v) {
    out.push_back(uint8_t(v));
    out.push_back(uint8_t(v >> 8));
}

struct CommonHeader {
    uint8_t magic = kImageMagic;
    uint8_t segment_count = 0;
    uint8_t flash_mode = 0;
    uint8_t flash_size_freq = 0; // size code in the high nibble, frequency code in the low one
    uint32_t entry = 0;

    static CommonHeader parse(const uint8_t *bytes);
    void appendTo(std::vector<uint8_t> &out) const;
};

struct ExtendedHeader {
    uint8_t wp_pin = kWpPinDisabled;
    uint8_t drive_settings[3] = {0, 0, 0}; // clk/q, d/cs, hd/wp nibbles
    uint16_t chip_id = 0;
    uint8_t min_rev = 0; // legacy
    uint16_t min_rev_full = 0;
    uint16_t max_rev_full = 0xFFFF;
    uint8_t reserved[4] = {0, 0, 0, 0};
    uint8_t hash_appended = 0;

    static ExtendedHeader parse(const uint8_t *bytes);
    void appendTo(std::vector<uint8_t> &out) const;
};

struct Segment {
    uint32_t address = 0;
    std::vector<uint8_t> data;
    size_t file_offset = 0; // of the segment's 8-byte header, when parsed from a file
    bool in_checksum = true;
};

enum class ImageKind : uint8_t { Esp8266V1, Esp8266V2, Esp32 };

struct Image {
    ImageKind kind = ImageKind::Esp32;
    CommonHeader header;           // for ESP8266 v2: the second (0xE9) header
    ExtendedHeader extended;       // meaningful for ImageKind::Esp32 only
    std::vector<Segment> segments; // ESP8266 v2: the IROM segment first, at address 0
    uint8_t stored_checksum = 0;
    uint8_t computed_checksum = 0;
    size_t data_length = 0; // bytes up to and including the checksum
    std::optional<std::array<uint8_t, kDigestSize>> stored_digest;
    std::array<uint8_t, kDigestSize> computed_digest{};
    std::vector<std::string> warnings; // what esptool would print as warnings while loading

    bool checksumValid() const { return stored_checksum == computed_checksum; }
    bool digestValid() const { return stored_digest && *stored_digest == computed_digest; }
};

// XOR of every byte, seeded with 0xEF.
uint8_t checksum(std::span<const uint8_t> data, uint8_t seed = kChecksumSeed);

// Parses an image of the chip's format. Errors name file_name and the offset at fault.
llvm::Expected<Image> parseImage(std::span<const uint8_t> bytes,
                                 const chipdb::ChipDescription &chip, llvm::StringRef file_name);

// The chip an image was made for, from its headers (image-info without --chip):
// magic 0xE9/0xEA, then ext-header byte 15 in {0,1} and byte 4 matching a chip id, else ESP8266.
llvm::Expected<const chipdb::ChipDescription *> detectImageChip(std::span<const uint8_t> bytes,
                                                                llvm::StringRef file_name);

} // namespace esptools::formats
