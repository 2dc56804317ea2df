// A host that speaks to the virtual chip in frames built by hand from protocol.md, so the chip is
// checked against the reference rather than against the loader's encoder.
#pragma once

#include "esptools/slip/slip.h"
#include "esptools/vchip/vchip.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace rom_client {

using namespace esptools;

inline std::vector<uint8_t> request(uint8_t op, std::vector<uint8_t> data, uint32_t checksum = 0) {
    std::vector<uint8_t> packet = {0x00,
                                   op,
                                   uint8_t(data.size()),
                                   uint8_t(data.size() >> 8),
                                   uint8_t(checksum),
                                   uint8_t(checksum >> 8),
                                   uint8_t(checksum >> 16),
                                   uint8_t(checksum >> 24)};
    packet.insert(packet.end(), data.begin(), data.end());
    return slip::encode(packet);
}

inline std::vector<uint8_t> words(std::initializer_list<uint32_t> values) {
    std::vector<uint8_t> out;
    for (uint32_t v : values)
        for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
    return out;
}

struct Client {
    std::unique_ptr<vchip::VirtualChip> chip;
    slip::Decoder decoder;

    explicit Client(const std::string &spec) {
        auto options = vchip::parsePortSpec(spec);
        EXPECT_TRUE(bool(options));
        auto created = vchip::VirtualChip::create(*options);
        EXPECT_TRUE(bool(created));
        chip = std::move(*created);
        drain();
    }
    void drain() {
        uint8_t buffer[512];
        while (chip->read(buffer, std::chrono::milliseconds(0)) > 0) {
        }
        decoder.reset();
    }
    std::vector<std::vector<uint8_t>> send(const std::vector<uint8_t> &bytes) {
        chip->write(bytes);
        std::vector<std::vector<uint8_t>> frames;
        uint8_t buffer[512];
        while (size_t n = chip->read(buffer, std::chrono::milliseconds(0)))
            for (size_t i = 0; i < n; ++i)
                if (decoder.push(buffer[i]) == slip::Decoder::Event::Frame)
                    frames.push_back(decoder.frame());
        return frames;
    }
    uint32_t readReg(uint32_t address) {
        auto frames = send(request(0x0A, words({address})));
        EXPECT_EQ(frames.size(), 1u);
        const auto &f = frames.at(0);
        return uint32_t(f[4] | f[5] << 8 | f[6] << 16 | uint32_t(f[7]) << 24);
    }
};

inline std::vector<uint8_t> syncPayload() {
    std::vector<uint8_t> payload(36, 0x55);
    payload[0] = 0x07, payload[1] = 0x07, payload[2] = 0x12, payload[3] = 0x20;
    return payload;
}

} // namespace rom_client
