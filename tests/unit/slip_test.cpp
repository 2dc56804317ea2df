#include "esptools/slip/slip.h"

#include <gtest/gtest.h>

using namespace esptools::slip;

TEST(Slip, EncodesTheWorkedMemDataFrameOfTheProtocolReference) {
    std::vector<uint8_t> payload = {0xC0, 0xDB, 0x01, 0x02};
    EXPECT_EQ(encode(payload),
              (std::vector<uint8_t>{0xC0, 0xDB, 0xDC, 0xDB, 0xDD, 0x01, 0x02, 0xC0}));
}

TEST(Slip, DecodesEscapesAndReportsNoiseAndBadEscapes) {
    Decoder decoder;
    EXPECT_EQ(decoder.push(0x55), Decoder::Event::NoiseOutsideFrame);
    std::vector<uint8_t> wire = {0xC0, 0x01, 0xDB, 0xDC, 0xDB, 0xDD, 0xC0};
    Decoder::Event last = Decoder::Event::None;
    for (uint8_t b : wire) last = decoder.push(b);
    ASSERT_EQ(last, Decoder::Event::Frame);
    EXPECT_EQ(decoder.frame(), (std::vector<uint8_t>{0x01, 0xC0, 0xDB}));
    decoder.push(0xC0);
    decoder.push(0xDB);
    EXPECT_EQ(decoder.push(0x00), Decoder::Event::BadEscape);
    EXPECT_FALSE(decoder.inFrame());
}

TEST(Slip, RoundTripsEveryByteValue) {
    std::vector<uint8_t> payload;
    for (int i = 0; i < 256; ++i) payload.push_back(uint8_t(i));
    Decoder decoder;
    int frames = 0;
    for (uint8_t b : encode(payload))
        if (decoder.push(b) == Decoder::Event::Frame) ++frames;
    EXPECT_EQ(frames, 1);
    EXPECT_EQ(decoder.frame(), payload);
}

TEST(Slip, ResynchronisesAfterADamagedDelimiter) {
    // The end of a frame went missing: its tail looks like noise, its closing C0 opens a frame,
    // and the next frame's opening C0 must not end an empty one.
    Decoder decoder;
    std::vector<uint8_t> wire = {0xC0, 0x01, 0x02, 0x03, 0xC0, 0xC0, 0x0A, 0x0B, 0xC0};
    wire.erase(wire.begin() + 2); // noise after a broken frame is what remains
    std::vector<std::vector<uint8_t>> frames;
    for (uint8_t b : std::vector<uint8_t>{0x07, 0x08, 0xC0, 0xC0, 0x0A, 0x0B, 0xC0})
        if (decoder.push(b) == Decoder::Event::Frame) frames.push_back(decoder.frame());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0], (std::vector<uint8_t>{0x0A, 0x0B}));
}
