#include "esptools/formats/image.h"

namespace esptools::formats {

CommonHeader CommonHeader::parse(const uint8_t *bytes) {
    return CommonHeader{bytes[0], bytes[1], bytes[2], bytes[3], readLE32(bytes + 4)};
}

void CommonHeader::appendTo(std::vector<uint8_t> &out) const {
    out.insert(out.end(), {magic, segment_count, flash_mode, flash_size_freq});
    appendLE32(out, entry);
}

ExtendedHeader ExtendedHeader::parse(const uint8_t *bytes) {
    ExtendedHeader h;
    h.wp_pin = bytes[0];
    h.drive_settings[0] = bytes[1];
    h.drive_settings[1] = bytes[2];
    h.drive_settings[2] = bytes[3];
    h.chip_id = readLE16(bytes + 4);
    h.min_rev = bytes[6];
    h.min_rev_full = readLE16(bytes + 7);
    h.max_rev_full = readLE16(bytes + 9);
    for (int i = 0; i < 4; ++i) h.reserved[i] = bytes[11 + i];
    h.hash_appended = bytes[15];
    return h;
}

void ExtendedHeader::appendTo(std::vector<uint8_t> &out) const {
    out.insert(out.end(), {wp_pin, drive_settings[0], drive_settings[1], drive_settings[2]});
    appendLE16(out, chip_id);
    out.push_back(min_rev);
    appendLE16(out, min_rev_full);
    appendLE16(out, max_rev_full);
    out.insert(out.end(), reserved, reserved + 4);
    out.push_back(hash_appended);
}

uint8_t checksum(std::span<const uint8_t> data, uint8_t seed) {
    uint8_t value = seed;
    for (uint8_t byte : data) value ^= byte;
    return value;
}

} // namespace esptools::formats
