// Builds small ESP firmware images for tests, written here from the documented layout
// (ESP-IDF docs "App Image Format": esp_image_header_t, esp_image_segment_header_t, checksum 0xEF
// XORed with every segment byte, SHA-256 appended when hash_appended is 1). It shares no code with
// tools/formats, so a parser test built on it checks the parser against the format, not against
// the writer's own reading of it.
#pragma once

#include <llvm/ADT/ArrayRef.h>
#include <llvm/Support/SHA256.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace esptools::testing {

struct TestSegment {
    uint32_t address;
    std::vector<uint8_t> data; // padded to whole words when written
};

struct TestImage {
    uint32_t entry = 0;
    uint8_t flash_mode = 2;       // 0 qio, 1 qout, 2 dio, 3 dout
    uint8_t size_and_freq = 0x20; // high nibble size, low nibble frequency
    // The extended header and digest exist on every chip but the ESP8266.
    std::optional<uint16_t> chip_id;
    uint16_t min_revision_full = 0;
    uint16_t max_revision_full = 0xFFFF;
    bool append_digest = true;
    std::vector<TestSegment> segments;
};

inline void putLE32(std::vector<uint8_t> &out, uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) out.push_back(uint8_t(value >> shift));
}

inline std::vector<uint8_t> buildTestImage(const TestImage &spec) {
    std::vector<uint8_t> out = {0xE9, uint8_t(spec.segments.size()), spec.flash_mode,
                                spec.size_and_freq};
    putLE32(out, spec.entry);
    if (spec.chip_id) {
        out.insert(out.end(), {0xEE, 0, 0, 0}); // wp pin unused, SPI pin drive strengths
        out.push_back(uint8_t(*spec.chip_id));
        out.push_back(uint8_t(*spec.chip_id >> 8));
        out.push_back(uint8_t(spec.min_revision_full / 100)); // legacy major-only field
        out.push_back(uint8_t(spec.min_revision_full));
        out.push_back(uint8_t(spec.min_revision_full >> 8));
        out.push_back(uint8_t(spec.max_revision_full));
        out.push_back(uint8_t(spec.max_revision_full >> 8));
        out.insert(out.end(), 4, 0);
        out.push_back(spec.append_digest ? 1 : 0);
    }
    uint8_t checksum = 0xEF;
    for (const TestSegment &segment : spec.segments) {
        std::vector<uint8_t> data = segment.data;
        data.resize((data.size() + 3) / 4 * 4, 0);
        putLE32(out, segment.address);
        putLE32(out, uint32_t(data.size()));
        for (uint8_t byte : data) checksum ^= byte;
        out.insert(out.end(), data.begin(), data.end());
    }
    while (out.size() % 16 != 15) out.push_back(0);
    out.push_back(checksum);
    if (spec.chip_id && spec.append_digest) {
        auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(out));
        out.insert(out.end(), digest.begin(), digest.end());
    }
    return out;
}

// Bytes that look like firmware to a compressor: runs of code-like words between random words.
inline std::vector<uint8_t> firmwareLikeBytes(size_t size, uint32_t seed) {
    std::vector<uint8_t> out;
    out.reserve(size);
    uint32_t state = seed;
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    const char *text = "esp_image_load: segment 0 mapped at 0x42000020, checksum ok; ";
    while (out.size() < size) {
        uint32_t kind = next() % 4;
        if (kind == 0) {
            for (const char *c = text; *c && out.size() < size; ++c) out.push_back(uint8_t(*c));
        } else {
            for (int i = 0; i < 16 && out.size() < size; ++i)
                out.push_back(kind == 1 ? uint8_t(next()) : uint8_t(0x13 + (i & 3)));
        }
    }
    return out;
}

} // namespace esptools::testing
