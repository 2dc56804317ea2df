// Native tests of the stub's protocol core (stub/core/stub.c with flash.c, md5.c, inflate.c) over
// the host HAL model in host_hal.cpp: what a host tool sees on the serial line, and what ends up in
// the flash, for the commands esptool and esp-loader send.
//
// The "host" here behaves like esptool: it sends a request as soon as all answers to the previous
// one are on the wire, which (FLASH_DATA being answered before it is written) is while the stub is
// still writing, so the second frame buffer is in use. It runs from the HAL's UART poll hook.

#include <gtest/gtest.h>
#include <llvm/ADT/ArrayRef.h>
#include <llvm/Support/MD5.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "host_hal.h"
#include "protocol.h"
#include "stub.h"

namespace {

using Bytes = std::vector<uint8_t>;
using host_hal::model;

constexpr uint32_t kSector = 0x1000;
constexpr uint32_t kBlock = 0x4000; // esptool's FLASH_WRITE_SIZE for stubs

// ------------------------------------------------------------------------------------------------
// Bytes, SLIP and request frames (our own, independent of tools/slip).

Bytes RandomBytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto &c : b) c = uint8_t(rng());
    return b;
}

// Compressible but not trivial: runs, repeats from far back and noise.
Bytes FirmwareLike(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes b;
    b.reserve(n);
    while (b.size() < n) {
        switch (rng() % 4) {
        case 0:
            b.insert(b.end(), 1 + rng() % 64, uint8_t(rng() % 3 == 0 ? 0xFF : 0x00));
            break;
        case 1:
            if (b.size() > 1000) {
                size_t from = b.size() - 1 - rng() % std::min<size_t>(b.size() - 1, 30000);
                size_t len = 3 + rng() % 200;
                for (size_t i = 0; i < len; ++i) b.push_back(b[from + i]);
                break;
            }
            [[fallthrough]];
        default:
            for (size_t i = 0, len = 1 + rng() % 40; i < len; ++i) b.push_back(uint8_t(rng()));
        }
    }
    b.resize(n);
    return b;
}

void Put32(Bytes &out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(value >> (8 * i)));
}

uint32_t Get32(const uint8_t *in) {
    return uint32_t(in[0]) | uint32_t(in[1]) << 8 | uint32_t(in[2]) << 16 | uint32_t(in[3]) << 24;
}

Bytes Words(std::initializer_list<uint32_t> words) {
    Bytes out;
    for (uint32_t w : words) Put32(out, w);
    return out;
}

Bytes Slip(const Bytes &payload) {
    Bytes out{0xC0};
    for (uint8_t b : payload) {
        if (b == 0xC0) {
            out.push_back(0xDB);
            out.push_back(0xDC);
        } else if (b == 0xDB) {
            out.push_back(0xDB);
            out.push_back(0xDD);
        } else {
            out.push_back(b);
        }
    }
    out.push_back(0xC0);
    return out;
}

// Strict decoder of what the stub sends: every byte must belong to a frame.
class SlipDecoder {
public:
    void Feed(uint8_t b, std::vector<Bytes> &frames) {
        if (!in_frame_) {
            if (b == 0xC0)
                in_frame_ = true;
            else
                ++noise_;
            return;
        }
        if (b == 0xC0) {
            if (escape_) ++bad_escapes_;
            escape_ = false;
            if (current_.empty()) return; // C0 C0
            frames.push_back(std::move(current_));
            current_.clear();
            in_frame_ = false;
            return;
        }
        if (escape_) {
            escape_ = false;
            if (b == 0xDC)
                current_.push_back(0xC0);
            else if (b == 0xDD)
                current_.push_back(0xDB);
            else
                ++bad_escapes_;
            return;
        }
        if (b == 0xDB)
            escape_ = true;
        else
            current_.push_back(b);
    }
    bool in_frame() const { return in_frame_; }
    size_t noise() const { return noise_; }
    size_t bad_escapes() const { return bad_escapes_; }

private:
    Bytes current_;
    bool in_frame_ = false, escape_ = false;
    size_t noise_ = 0, bad_escapes_ = 0;
};

Bytes Request(uint8_t op, const Bytes &data, uint32_t checksum = 0) {
    Bytes f{0x00, op, uint8_t(data.size()), uint8_t(data.size() >> 8)};
    Put32(f, checksum);
    f.insert(f.end(), data.begin(), data.end());
    return f;
}

uint8_t Checksum(const Bytes &data) {
    uint8_t sum = 0xEF;
    for (uint8_t b : data) sum ^= b;
    return sum;
}

// A *_DATA request: length, sequence, two zero words, data; checksum in the header's value field.
Bytes DataRequest(uint8_t op, const Bytes &data, uint32_t sequence) {
    Bytes payload = Words({uint32_t(data.size()), sequence, 0, 0});
    payload.insert(payload.end(), data.begin(), data.end());
    return Request(op, payload, Checksum(data));
}

Bytes SyncRequest() {
    Bytes data{0x07, 0x07, 0x12, 0x20};
    data.insert(data.end(), 32, 0x55);
    return Request(OP_SYNC, data);
}

std::array<uint8_t, 16> Md5(const uint8_t *data, size_t n) {
    return llvm::MD5::hash(llvm::ArrayRef<uint8_t>(data, n));
}

Bytes Compress(const Bytes &data, int level = 9) {
    uLongf size = compressBound(uLong(data.size()));
    Bytes out(size);
    EXPECT_EQ(compress2(out.data(), &size, data.data(), uLong(data.size()), level), Z_OK);
    out.resize(size);
    return out;
}

std::string Hex32(uint32_t v, int digits) {
    char text[16];
    std::snprintf(text, sizeof text, "%0*X", digits, v);
    return text;
}

struct Reply {
    bool well_formed = false;
    uint8_t direction = 0, op = 0;
    uint32_t value = 0;
    Bytes data;
    uint16_t status = 0xFFFF;
};

// `01 op size16 value32 data status(2)`, size counting data and status.
Reply ParseReply(const Bytes &frame) {
    Reply r;
    if (frame.size() < 10) return r;
    uint32_t size = frame[2] | uint32_t(frame[3]) << 8;
    if (size < 2 || frame.size() != 8 + size) return r;
    r.well_formed = true;
    r.direction = frame[0];
    r.op = frame[1];
    r.value = Get32(&frame[4]);
    r.data.assign(frame.begin() + 8, frame.end() - 2);
    r.status = uint16_t(frame[frame.size() - 2] << 8 | frame[frame.size() - 1]);
    return r;
}

// "op=03 status=C400", or what was wrong with the frame: compact and readable in a failed EXPECT.
std::string Describe(const Bytes &frame) {
    Reply r = ParseReply(frame);
    if (!r.well_formed) return "malformed frame of " + std::to_string(frame.size()) + " bytes";
    std::string text = "op=" + Hex32(r.op, 2) + " status=" + Hex32(r.status, 4);
    if (r.direction != 1) text += " direction=" + Hex32(r.direction, 2);
    if (!r.data.empty()) text += " +" + std::to_string(r.data.size()) + " bytes";
    return text;
}

std::string Expect(uint8_t op, uint16_t status) {
    return "op=" + Hex32(op, 2) + " status=" + Hex32(status, 4);
}

::testing::AssertionResult SameBytes(const Bytes &expected, const Bytes &actual) {
    if (expected.size() != actual.size())
        return ::testing::AssertionFailure()
               << "sizes differ: " << expected.size() << " vs " << actual.size();
    auto [e, a] = std::mismatch(expected.begin(), expected.end(), actual.begin());
    if (e == expected.end()) return ::testing::AssertionSuccess();
    size_t at = size_t(e - expected.begin());
    size_t count = 0;
    for (size_t i = at; i < expected.size(); ++i) count += expected[i] != actual[i];
    return ::testing::AssertionFailure()
           << count << " bytes differ, the first at 0x" << Hex32(uint32_t(at), 1) << ": expected 0x"
           << Hex32(*e, 2) << ", got 0x" << Hex32(*a, 2);
}

// ------------------------------------------------------------------------------------------------
// The fixture: a fresh model, the stub greeted, an esptool-like host on the poll hook.

struct Step {
    Bytes frame;
    size_t replies = 1;      // frames the stub answers with (the host then sends the next step)
    bool read_flash = false; // the READ_FLASH stream starts with this step's reply
    bool wait = true;        // false: the next step goes out right behind this one
    bool raw = false;        // `frame` is sent as it is, not SLIP-encoded
};

enum class AckPolicy {
    kEachPacket,          // esptool: an ack with the running total as soon as a packet is in
    kOneTotalWhenQuiet,   // a lazy host: one ack for everything, once the stub stops sending
    kEachPacketWhenQuiet, // a host that fell behind: one ack per packet, back to back
};

struct ReadFlashHost {
    uint32_t length = 0, packet = 0, in_flight = 0;
    AckPolicy policy = AckPolicy::kEachPacket;
    size_t start = SIZE_MAX; // frames_ index of the READ_FLASH reply
    size_t next = 0;         // next frames_ index to look at
    Bytes data;
    size_t data_frames = 0, acked_frames = 0, max_unacked = 0, acks_sent = 0;
    std::vector<size_t> bad_packet_sizes; // index of packets of an unexpected size
    std::optional<Bytes> digest;
    size_t last_wire = 0;
};

class StubProtocol : public ::testing::Test {
protected:
    void SetUp() override {
        host_hal::Reset();
        model().uart.on_poll = [this] { OnPoll(); };
        stub_greet();
        model().uart.Settle();
        Decode();
    }

    void TearDown() override {
        model().uart.on_poll = nullptr;
        for (const auto &v : model().flash.violations) ADD_FAILURE() << "flash: " << v;
        for (const auto &v : model().uart.violations) ADD_FAILURE() << "uart: " << v;
        EXPECT_EQ(decoder_.noise(), 0u) << "bytes outside SLIP frames";
        EXPECT_EQ(decoder_.bad_escapes(), 0u) << "invalid SLIP escapes";
    }

    void Decode() {
        const Bytes &wire = model().uart.wire;
        for (; decoded_ < wire.size(); ++decoded_) decoder_.Feed(wire[decoded_], frames_);
    }

    void OnPoll() {
        Decode();
        if (reader_) ServeReadFlash(*reader_);
        AdvanceScript();
    }

    void AdvanceScript() {
        while (sent_ < script_.size()) {
            // Next when the previous step's answers are in; after one that gets none, once the stub
            // has handled it (a host would time out).
            if (sent_ > 0 && script_[sent_ - 1].wait &&
                (script_[sent_ - 1].replies == 0
                     ? handled_ < sent_
                     : frames_.size() - starts_[sent_ - 1] < script_[sent_ - 1].replies))
                return;
            // Sent while the stub still works on the previous request (its answer came first)?
            if (sent_ > 0 && handled_ < sent_) ++pipelined_;
            starts_.push_back(frames_.size());
            if (reader_ && script_[sent_].read_flash) reader_->start = frames_.size();
            model().uart.Push(script_[sent_].raw ? script_[sent_].frame
                                                 : Slip(script_[sent_].frame));
            ++sent_;
        }
    }

    bool ScriptDone() const {
        return sent_ == script_.size() &&
               (sent_ == 0 || frames_.size() - starts_.back() >= script_.back().replies);
    }

    // Runs the conversation to its end and returns each step's reply frames.
    std::vector<std::vector<Bytes>> Converse(std::vector<Step> script) {
        script_ = std::move(script);
        sent_ = handled_ = pipelined_ = 0;
        starts_.clear();
        const size_t first = frames_.size();
        try {
            AdvanceScript();
            for (long steps = 0;; ++steps) {
                if (steps > 20'000'000) {
                    ADD_FAILURE() << "no end to the conversation";
                    break;
                }
                bool handled = stub_step();
                handled_ += handled;
                model().uart.Settle();
                OnPoll();
                if (!handled && ScriptDone() && model().uart.rx.empty()) break;
            }
        } catch (const host_hal::Stalled &stalled) {
            ADD_FAILURE() << stalled.what() << " (after " << sent_ << " of " << script_.size()
                          << " requests, " << frames_.size() - first << " frames)";
        }
        std::vector<std::vector<Bytes>> groups(script_.size());
        for (size_t k = 0; k < starts_.size(); ++k) {
            size_t end = k + 1 < starts_.size() ? starts_[k + 1] : frames_.size();
            groups[k].assign(frames_.begin() + long(starts_[k]), frames_.begin() + long(end));
        }
        return groups;
    }

    // The first reply of each step, described (see Describe).
    std::vector<std::string> Run(std::vector<Step> script) {
        std::vector<std::string> out;
        for (const auto &group : Converse(std::move(script)))
            out.push_back(group.empty() ? "no reply" : Describe(group.front()));
        return out;
    }

    Reply Exchange(const Bytes &frame) {
        auto groups = Converse({{frame, 1}});
        EXPECT_EQ(groups[0].size(), 1u);
        return groups[0].empty() ? Reply{} : ParseReply(groups[0][0]);
    }

    void ServeReadFlash(ReadFlashHost &r) {
        if (r.start == SIZE_MAX || r.start >= frames_.size()) return;
        if (ParseReply(frames_[r.start]).status != RESPONSE_OK) return;
        host_hal::Uart &uart = model().uart;
        auto ack = [&](uint32_t total) {
            uart.Push(Slip(Words({total})));
            ++r.acks_sent;
        };
        for (r.next = std::max(r.next, r.start + 1); r.next < frames_.size(); ++r.next) {
            const Bytes &frame = frames_[r.next];
            if (r.data.size() < r.length) {
                uint32_t expected =
                    std::min<uint32_t>(r.packet, r.length - uint32_t(r.data.size()));
                if (frame.size() != expected) r.bad_packet_sizes.push_back(r.data_frames);
                r.data.insert(r.data.end(), frame.begin(), frame.end());
                ++r.data_frames;
                if (r.policy == AckPolicy::kEachPacket) {
                    ack(uint32_t(r.data.size()));
                    r.acked_frames = r.data_frames;
                }
            } else if (!r.digest) {
                r.digest = frame;
            }
        }
        // Packets the stub has started (a partial one on the wire counts) and we have not acked.
        size_t started = r.data_frames + (decoder_.in_frame() && r.data.size() < r.length);
        r.max_unacked = std::max(r.max_unacked, started - r.acked_frames);
        bool quiet = uart.wire.size() == r.last_wire && uart.tx_fifo.empty();
        r.last_wire = uart.wire.size();
        if (!quiet || r.acked_frames == r.data_frames) return;
        if (r.policy == AckPolicy::kOneTotalWhenQuiet) {
            ack(uint32_t(r.data.size()));
        } else if (r.policy == AckPolicy::kEachPacketWhenQuiet) {
            for (size_t k = r.acked_frames + 1; k <= r.data_frames; ++k)
                ack(std::min<uint32_t>(uint32_t(k) * r.packet, r.length));
        }
        r.acked_frames = r.data_frames;
    }

    // READ_FLASH with the given host behaviour; the reply groups of [READ_FLASH, READ_REG].
    std::vector<std::vector<Bytes>> ReadFlash(uint32_t address, uint32_t length, uint32_t packet,
                                              uint32_t in_flight, AckPolicy policy) {
        reader_.emplace();
        reader_->length = length;
        reader_->packet = packet;
        reader_->in_flight = in_flight;
        reader_->policy = policy;
        size_t packets = (length + packet - 1) / packet;
        auto groups =
            Converse({{Request(OP_READ_FLASH, Words({address, length, packet, in_flight})),
                       1 + packets + 1, true},
                      {Request(OP_READ_REG, Words({0x1000})), 1}});
        return groups;
    }

    // esptool's write-flash: BEGIN, DATA blocks (the last one padded with 0xFF when uncompressed),
    // END(1 = stay in the loader).
    static std::vector<Step> WriteScript(uint32_t offset, const Bytes &image, bool deflate,
                                         uint32_t block = kBlock) {
        std::vector<Step> script;
        if (deflate) {
            Bytes z = Compress(image);
            uint32_t blocks = uint32_t((z.size() + block - 1) / block);
            script.push_back({Request(OP_FLASH_DEFL_BEGIN,
                                      Words({uint32_t(image.size()), blocks, block, offset}))});
            for (uint32_t i = 0; i < blocks; ++i) {
                size_t from = size_t(i) * block, to = std::min(z.size(), from + block);
                script.push_back({DataRequest(
                    OP_FLASH_DEFL_DATA, Bytes(z.begin() + long(from), z.begin() + long(to)), i)});
            }
            script.push_back({Request(OP_FLASH_DEFL_END, Words({1}))});
        } else {
            Bytes padded = image;
            padded.resize((padded.size() + 3) & ~size_t(3), 0xFF);
            uint32_t blocks = uint32_t((padded.size() + block - 1) / block);
            script.push_back(
                {Request(OP_FLASH_BEGIN, Words({uint32_t(padded.size()), blocks, block, offset}))});
            for (uint32_t i = 0; i < blocks; ++i) {
                size_t from = size_t(i) * block, to = std::min(padded.size(), from + block);
                Bytes data(padded.begin() + long(from), padded.begin() + long(to));
                data.resize(block, 0xFF);
                script.push_back({DataRequest(OP_FLASH_DATA, data, i)});
            }
            script.push_back({Request(OP_FLASH_END, Words({1}))});
        }
        return script;
    }

    static std::vector<std::string> AllOk(const std::vector<Step> &script) {
        std::vector<std::string> out;
        for (const auto &step : script) out.push_back(Expect(step.frame[1], RESPONSE_OK));
        return out;
    }

    Bytes FlashAt(uint32_t address, size_t n) const {
        const Bytes &f = model().flash.bytes;
        return Bytes(f.begin() + address, f.begin() + address + long(n));
    }

    SlipDecoder decoder_;
    size_t decoded_ = 0;
    std::vector<Bytes> frames_;
    std::vector<Step> script_;
    std::vector<size_t> starts_;
    size_t sent_ = 0, handled_ = 0, pipelined_ = 0;
    std::optional<ReadFlashHost> reader_;
};

// ------------------------------------------------------------------------------------------------
// Greeting, SYNC, registers, small commands.

TEST_F(StubProtocol, GreetsWithOhaiFrame) {
    ASSERT_EQ(frames_.size(), 1u);
    EXPECT_EQ(frames_[0], (Bytes{'O', 'H', 'A', 'I'}));
    EXPECT_EQ(model().uart.wire, (Bytes{0xC0, 'O', 'H', 'A', 'I', 0xC0}));
}

TEST_F(StubProtocol, SyncGetsEightRepliesWithValueZero) {
    auto groups = Converse({{SyncRequest(), 8}, {SyncRequest(), 8}});
    for (const auto &group : groups) {
        ASSERT_EQ(group.size(), 8u);
        for (const auto &frame : group) {
            Reply r = ParseReply(frame);
            ASSERT_TRUE(r.well_formed);
            EXPECT_EQ(r.direction, 1);
            EXPECT_EQ(r.op, OP_SYNC);
            EXPECT_EQ(r.value, 0u);
            EXPECT_TRUE(r.data.empty());
            EXPECT_EQ(r.status, RESPONSE_OK);
        }
    }
}

TEST_F(StubProtocol, SyncWithWrongSizeGetsOneError) {
    Bytes data(35, 0x55);
    EXPECT_EQ(Run({{Request(OP_SYNC, data)}, {SyncRequest(), 8}}),
              (std::vector<std::string>{Expect(OP_SYNC, RESPONSE_BAD_DATA_LENGTH),
                                        Expect(OP_SYNC, RESPONSE_OK)}));
}

TEST_F(StubProtocol, ReadRegReturnsTheRegisterInTheValueField) {
    model().registers[0x60008850] = 0x1B31506F;
    Reply r = Exchange(Request(OP_READ_REG, Words({0x60008850})));
    EXPECT_EQ(r.op, OP_READ_REG);
    EXPECT_EQ(r.value, 0x1B31506Fu);
    EXPECT_EQ(r.status, RESPONSE_OK);
    EXPECT_TRUE(r.data.empty());
    EXPECT_EQ(Exchange(Request(OP_READ_REG, Words({0x60008850, 0}))).status,
              RESPONSE_BAD_DATA_LENGTH);
}

TEST_F(StubProtocol, WriteRegAppliesMaskAndDelayPerEntry) {
    model().registers[0x3FF00010] = 0x12345678;
    model().registers[0x3FF00020] = 0xFFFFFFFF;
    Bytes entries = Words({0x3FF00010, 0xAABBCCDD, 0x0000FFFF, 0,  //
                           0x3FF00020, 0x00000000, 0xF0F0F0F0, 25, //
                           0x3FF00030, 0xCAFEF00D, 0xFFFFFFFF, 0});
    Reply w = Exchange(Request(OP_WRITE_REG, entries));
    EXPECT_EQ(w.status, RESPONSE_OK);
    EXPECT_EQ(model().registers[0x3FF00010], 0x1234CCDDu);
    EXPECT_EQ(model().registers[0x3FF00020], 0x0F0F0F0Fu);
    EXPECT_EQ(model().registers[0x3FF00030], 0xCAFEF00Du);
    EXPECT_EQ(model().delays_us, (std::vector<uint32_t>{25}));
    EXPECT_EQ(Exchange(Request(OP_READ_REG, Words({0x3FF00010}))).value, 0x1234CCDDu);
}

TEST_F(StubProtocol, WriteRegWithAPartialEntryChangesNothing) {
    model().registers[0x3FF00010] = 7;
    Bytes entries = Words({0x3FF00010, 1, 0xFFFFFFFF, 0, 0x3FF00010});
    EXPECT_EQ(Exchange(Request(OP_WRITE_REG, entries)).status, RESPONSE_NOT_ENOUGH_DATA);
    EXPECT_EQ(Exchange(Request(OP_WRITE_REG, {})).status, RESPONSE_NOT_ENOUGH_DATA);
    EXPECT_EQ(model().registers[0x3FF00010], 7u);
}

TEST_F(StubProtocol, SlipSpecialBytesSurviveBothDirections) {
    // Address, value and reply all full of C0 and DB: escaped by the host, unescaped by the stub,
    // escaped again in the reply.
    Reply w = Exchange(Request(OP_WRITE_REG, Words({0xC0DBC0DB, 0xDBC0C0DB, 0xFFFFFFFF, 0})));
    EXPECT_EQ(w.status, RESPONSE_OK);
    EXPECT_EQ(model().registers[0xC0DBC0DB], 0xDBC0C0DBu);
    Reply r = Exchange(Request(OP_READ_REG, Words({0xC0DBC0DB})));
    EXPECT_EQ(r.value, 0xDBC0C0DBu);
    EXPECT_EQ(r.status, RESPONSE_OK);
}

TEST_F(StubProtocol, SpiAttachAndSetParams) {
    EXPECT_EQ(Exchange(Request(OP_SPI_ATTACH, Words({0}))).status, RESPONSE_OK);
    EXPECT_EQ(Exchange(Request(OP_SPI_ATTACH, Words({0x12345, 0}))).status, RESPONSE_OK);
    EXPECT_EQ(model().attaches, (std::vector<uint32_t>{0, 0x12345}));
    EXPECT_EQ(Exchange(Request(OP_SPI_ATTACH, Words({1, 2, 3}))).status, RESPONSE_BAD_DATA_LENGTH);
    EXPECT_EQ(
        Exchange(Request(OP_SPI_SET_PARAMS, Words({0, 4u << 20, 0x10000, 0x1000, 0x100, 0xFFFF})))
            .status,
        RESPONSE_OK);
    EXPECT_EQ(Exchange(Request(OP_SPI_SET_PARAMS, Words({0, 4u << 20}))).status,
              RESPONSE_BAD_DATA_LENGTH);
}

TEST_F(StubProtocol, ChangeBaudrateAnswersAtTheOldRateBeforeSwitching) {
    Reply r = Exchange(Request(OP_CHANGE_BAUDRATE, Words({921600, 115200})));
    EXPECT_EQ(r.status, RESPONSE_OK);
    ASSERT_EQ(model().uart.baud_changes.size(), 1u);
    EXPECT_EQ(model().uart.baud_changes[0], (std::pair<uint32_t, uint32_t>{921600, 115200}));
    // The whole reply had left the TX FIFO when the divider changed.
    EXPECT_EQ(model().uart.tx_fifo_size_at_baud_change, 0u);
    EXPECT_EQ(model().uart.wire_size_at_baud_change[0], model().uart.wire.size());
    EXPECT_EQ(Exchange(Request(OP_CHANGE_BAUDRATE, Words({921600}))).status,
              RESPONSE_BAD_DATA_LENGTH);
    EXPECT_EQ(model().uart.baud_changes.size(), 1u);
}

// ------------------------------------------------------------------------------------------------
// Writing flash.

TEST_F(StubProtocol, FlashWriteStoresExactlyTheDataAndErasesOnlyTheSectorsItTouches) {
    // Old contents everywhere; the image starts mid-sector and ends mid-sector, spanning two 64 KiB
    // blocks: [0xE800, 0x337F0) -> erased [0xE000, 0x34000).
    Bytes &flash = model().flash.bytes;
    for (size_t i = 0; i < flash.size(); ++i) flash[i] = uint8_t(i * 7 + (i >> 12) + 1);
    const Bytes before = flash;
    const uint32_t offset = 0xE800;
    const Bytes image = RandomBytes(0x25000 - 0x10 - 3, 1); // not a multiple of 4 either
    auto script = WriteScript(offset, image, false);
    const size_t blocks = script.size() - 2;
    EXPECT_EQ(Run(script), AllOk(script));

    Bytes expected = before;
    const uint32_t written = uint32_t((image.size() + 3) & ~size_t(3)); // esptool pads to 4
    const uint32_t erase_from = offset & ~(kSector - 1);
    const uint32_t erase_to = (offset + written + kSector - 1) & ~(kSector - 1);
    std::fill(expected.begin() + erase_from, expected.begin() + erase_to, 0xFF);
    std::copy(image.begin(), image.end(), expected.begin() + offset);
    EXPECT_TRUE(SameBytes(expected, flash));
    EXPECT_EQ(erase_to, 0x34000u);
    // 64 KiB erases where a whole block lies inside the session, 4 KiB sectors elsewhere.
    EXPECT_EQ(model().flash.block_erases, 2u);
    EXPECT_EQ(model().flash.sector_erases, 2u + 4u);
    EXPECT_EQ(model().flash.chip_erases, 0u);
    // Each block after the first (and FLASH_END) arrived while the previous one was being written.
    EXPECT_EQ(pipelined_, blocks);
}

TEST_F(StubProtocol, FlashWriteSkipsErasingBlankSectorsButErasesOldData) {
    const uint32_t offset = 0x20000;
    const Bytes first = RandomBytes(0x9000, 2);
    auto script = WriteScript(offset, first, false);
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_EQ(model().flash.sector_erases + model().flash.block_erases, 0u);
    EXPECT_TRUE(SameBytes(first, FlashAt(offset, first.size())));

    // Same place again: the sectors now hold data, so they are erased before programming.
    const Bytes second = RandomBytes(0x9000, 3);
    script = WriteScript(offset, second, false);
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_EQ(model().flash.sector_erases, 9u);
    EXPECT_TRUE(SameBytes(second, FlashAt(offset, second.size())));
}

// Blank flash is checked a sector at a time: sectors before the first one holding data are kept
// (not erased), and from there on everything is erased, in 64 KiB blocks once aligned.
TEST_F(StubProtocol, FlashWriteErasesFromTheFirstSectorHoldingData) {
    Bytes &flash = model().flash.bytes;
    flash[0x25123] = 0x00; // old data in the sixth sector of the session
    flash[0x3F001] = 0x5A; // ... and in its last one
    const uint32_t offset = 0x20000;
    const Bytes image = RandomBytes(0x20000, 6);
    auto script = WriteScript(offset, image, false);
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
    EXPECT_EQ(model().flash.sector_erases, 11u); // 0x25000 .. 0x2F000
    EXPECT_EQ(model().flash.block_erases, 1u);   // 0x30000
}

// Programming can only clear bits: erased bytes in an image (padding between parts of a merged
// image) cost no program operation, on blank flash or over old data erased for the write.
TEST_F(StubProtocol, FlashWriteDoesNotProgramErasedBytes) {
    Bytes image = RandomBytes(0x5000, 7);
    std::fill(image.begin() + 0x1000, image.begin() + 0x4000, 0xFF);
    image[0x2345] = 0xFE; // one 64-byte transfer in the padding still has a bit to clear
    Bytes &flash = model().flash.bytes;
    std::fill(flash.begin() + 0x40000, flash.begin() + 0x50000, 0x00);
    for (uint32_t offset : {0x8000u /* blank */, 0x40000u /* old data */}) {
        SCOPED_TRACE(Hex32(offset, 5));
        const unsigned programs_before = model().flash.page_programs;
        auto script = WriteScript(offset, image, false);
        EXPECT_EQ(Run(script), AllOk(script));
        EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
        EXPECT_EQ(model().flash.page_programs - programs_before, 0x2000u / 64 + 1);
        Reply md5 =
            Exchange(Request(OP_SPI_FLASH_MD5, Words({offset, uint32_t(image.size()), 0, 0})));
        auto expected = Md5(image.data(), image.size());
        EXPECT_EQ(md5.data, Bytes(expected.begin(), expected.end()));
    }
}

TEST_F(StubProtocol, FlashWriteWorksWhenBytesTrickleInOneAtATime) {
    model().uart.rx_fifo_view = 1;
    model().uart.tx_polls_per_byte = 5;
    const Bytes image = RandomBytes(3 * kBlock + 100, 4);
    auto script = WriteScript(0x1000, image, false);
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_TRUE(SameBytes(image, FlashAt(0x1000, image.size())));
}

TEST_F(StubProtocol, DeflateWriteStoresTheDecompressedDataAndMd5Matches) {
    Bytes &flash = model().flash.bytes;
    std::fill(flash.begin() + 0x100000, flash.begin() + 0x180000, 0x00); // old data to erase
    const uint32_t offset = 0x101000;
    const Bytes image = FirmwareLike(300000, 5);
    auto script = WriteScript(offset, image, true);
    ASSERT_GE(script.size(), 2u + 4u) << "the test wants several 16 KiB compressed blocks";
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
    EXPECT_EQ(flash[offset - 1], 0x00);            // before: another sector
    EXPECT_EQ(flash[offset + image.size()], 0xFF); // after, in the last sector: erased
    EXPECT_EQ(flash[(offset + image.size() + 0xFFF) & ~0xFFFu], 0x00); // next sector untouched

    Reply md5 = Exchange(Request(OP_SPI_FLASH_MD5, Words({offset, uint32_t(image.size()), 0, 0})));
    EXPECT_EQ(md5.status, RESPONSE_OK);
    auto expected = Md5(image.data(), image.size());
    EXPECT_EQ(md5.data, Bytes(expected.begin(), expected.end()));
}

// The MD5 of a region just written comes from the bytes read back as they were programmed; once
// anything else has changed the flash, the answer is the flash's again.
TEST_F(StubProtocol, Md5AfterAWriteReflectsLaterChangesToTheFlash) {
    const uint32_t offset = 0x60000;
    const Bytes image = RandomBytes(0x5000, 11);
    auto script = WriteScript(offset, image, true);
    EXPECT_EQ(Run(script), AllOk(script));
    auto md5_of_region = [&] {
        return Exchange(Request(OP_SPI_FLASH_MD5, Words({offset, uint32_t(image.size()), 0, 0})));
    };
    auto written = Md5(image.data(), image.size());
    EXPECT_EQ(md5_of_region().data, Bytes(written.begin(), written.end()));
    EXPECT_EQ(Exchange(Request(OP_ERASE_REGION, Words({offset + 0x1000, 0x1000}))).status,
              RESPONSE_OK);
    Reply after = md5_of_region();
    EXPECT_EQ(after.status, RESPONSE_OK);
    auto now = Md5(model().flash.bytes.data() + offset, image.size());
    EXPECT_EQ(after.data, Bytes(now.begin(), now.end()));
    EXPECT_NE(now, written);
}

TEST_F(StubProtocol, SpiFlashMd5CoversAnyRange) {
    Bytes &flash = model().flash.bytes;
    const Bytes content = RandomBytes(0x3000, 6);
    std::copy(content.begin(), content.end(), flash.begin() + 0x7000);
    for (auto [address, length] : {std::pair<uint32_t, uint32_t>{0x7003, 0x2FF0},
                                   {0x7000, 0x3000},
                                   {0x7001, 1},
                                   {0x7400, 0}}) {
        SCOPED_TRACE(Hex32(address, 6) + "+" + Hex32(length, 4));
        Reply r = Exchange(Request(OP_SPI_FLASH_MD5, Words({address, length, 0, 0})));
        EXPECT_EQ(r.status, RESPONSE_OK);
        auto expected = Md5(flash.data() + address, length);
        EXPECT_EQ(r.data, Bytes(expected.begin(), expected.end()));
    }
    EXPECT_EQ(Exchange(Request(OP_SPI_FLASH_MD5, Words({0x7000, 16}))).status,
              RESPONSE_BAD_DATA_LENGTH);
}

// ------------------------------------------------------------------------------------------------
// Sequence numbers: a block sent again after a lost answer, and a missing block.

TEST_F(StubProtocol, RepeatedFlashDataBlockIsAnsweredButNotWrittenTwice) {
    const uint32_t offset = 0x40000;
    const Bytes image = RandomBytes(3 * kBlock, 7);
    auto script = WriteScript(offset, image, false);
    // BEGIN, D0, D1, D1 again (its answer was lost), D2, END.
    script.insert(script.begin() + 3, script[2]);
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
    EXPECT_EQ(model().flash.bytes[offset + image.size()], 0xFF);
}

// An answer to a *_DATA block carries the block's sequence number (the ROM's value field stays 0):
// after a late answer and a resend, the host can tell the late answer from the next block's.
TEST_F(StubProtocol, DataAnswersCarryTheirBlocksSequenceNumber) {
    const Bytes image = RandomBytes(3 * kBlock, 8);
    auto script = WriteScript(0x60000, image, false);
    script.insert(script.begin() + 3, script[2]); // D1 again: its answer was "lost"
    std::vector<uint32_t> values;
    for (const auto &group : Converse(script))
        if (!group.empty()) values.push_back(ParseReply(group.front()).value);
    // BEGIN, D0, D1, D1 again, D2, END.
    EXPECT_EQ(values, (std::vector<uint32_t>{0, 0, 1, 1, 2, 0}));
    // A refused block (bad checksum) is answered with its number too.
    Bytes bad = script[2].frame;
    bad[4] ^= 0xFF;
    Reply refused = Exchange(bad);
    EXPECT_EQ(refused.status, RESPONSE_BAD_CHECKSUM);
    EXPECT_EQ(refused.value, 1u);
}

TEST_F(StubProtocol, RepeatedDeflateBlockKeepsTheInflateStreamIntact) {
    const uint32_t offset = 0x80000;
    const Bytes image = FirmwareLike(200000, 8);
    auto script = WriteScript(offset, image, true);
    ASSERT_GE(script.size(), 5u);
    script.insert(script.begin() + 2, script[1]); // D0 twice
    script.insert(script.begin() + 5, script[4]); // D2 twice
    EXPECT_EQ(Run(script), AllOk(script));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
}

TEST_F(StubProtocol, SequenceGapIsRefusedAndTheMissingBlockIsStillAccepted) {
    const uint32_t offset = 0x30000;
    const Bytes image = RandomBytes(3 * kBlock, 9);
    auto s = WriteScript(offset, image, false); // BEGIN D0 D1 D2 END
    std::vector<Step> script{s[0], s[1], s[3], s[2], s[3], s[4]};
    EXPECT_EQ(Run(script), (std::vector<std::string>{
                               Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_NOT_ENOUGH_DATA), // D2 before D1
                               Expect(OP_FLASH_DATA, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_OK),
                               Expect(OP_FLASH_END, RESPONSE_OK),
                           }));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
}

TEST_F(StubProtocol, RepeatWithoutAnyBlockIsAGap) {
    auto s = WriteScript(0x30000, RandomBytes(kBlock, 10), false);
    std::vector<Step> script{s[0], {DataRequest(OP_FLASH_DATA, Bytes(kBlock, 0x11), 0xFFFFFFFF)}};
    EXPECT_EQ(Run(script), (std::vector<std::string>{
                               Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_NOT_ENOUGH_DATA),
                           }));
    EXPECT_EQ(model().flash.page_programs, 0u);
}

// ------------------------------------------------------------------------------------------------
// Refused blocks and deferred errors.

TEST_F(StubProtocol, BadChecksumIsRefusedAndTheBlockCanBeResent) {
    const uint32_t offset = 0x50000;
    const Bytes image = RandomBytes(2 * kBlock, 11);
    auto s = WriteScript(offset, image, false); // BEGIN D0 D1 END
    Step corrupt = s[1];
    corrupt.frame[4] ^= 0x01; // checksum byte
    std::vector<Step> script{s[0], corrupt, s[1], s[2], s[3]};
    EXPECT_EQ(Run(script), (std::vector<std::string>{
                               Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_BAD_CHECKSUM),
                               Expect(OP_FLASH_DATA, RESPONSE_OK),
                               Expect(OP_FLASH_DATA, RESPONSE_OK),
                               Expect(OP_FLASH_END, RESPONSE_OK),
                           }));
    EXPECT_TRUE(SameBytes(image, FlashAt(offset, image.size())));
}

TEST_F(StubProtocol, DataLengthFieldMustMatchThePayload) {
    auto s = WriteScript(0x50000, RandomBytes(kBlock, 12), false);
    Step wrong_length = s[1];
    wrong_length.frame[8] ^= 0x04; // N no longer equals the bytes that follow
    Bytes short_payload = Request(OP_FLASH_DATA, Words({0, 0, 0}));
    EXPECT_EQ(Run({s[0], wrong_length, {short_payload}, s[1], s[2]}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_TOO_MUCH_DATA),
                  Expect(OP_FLASH_DATA, RESPONSE_NOT_ENOUGH_DATA),
                  Expect(OP_FLASH_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_END, RESPONSE_OK),
              }));
}

TEST_F(StubProtocol, DataAndEndOutsideASessionAreRefused) {
    Bytes block(64, 0x22);
    EXPECT_EQ(Run({{DataRequest(OP_FLASH_DATA, block, 0)},
                   {DataRequest(OP_FLASH_DEFL_DATA, block, 0)},
                   {DataRequest(OP_MEM_DATA, block, 0)},
                   {Request(OP_FLASH_END, Words({1}))},
                   {Request(OP_FLASH_DEFL_END, Words({1}))}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_DATA, RESPONSE_NOT_IN_FLASH_MODE),
                  Expect(OP_FLASH_DEFL_DATA, RESPONSE_NOT_IN_FLASH_MODE),
                  Expect(OP_MEM_DATA, RESPONSE_NOT_IN_FLASH_MODE),
                  Expect(OP_FLASH_END, RESPONSE_NOT_IN_FLASH_MODE),
                  Expect(OP_FLASH_DEFL_END, RESPONSE_NOT_IN_FLASH_MODE),
              }));
    // A compressed block in an uncompressed session, and the other way round.
    auto plain = WriteScript(0x60000, RandomBytes(100, 13), false);
    auto defl = WriteScript(0x60000, RandomBytes(100, 13), true);
    EXPECT_EQ(Run({plain[0], defl[1], defl[0], plain[1]}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DEFL_DATA, RESPONSE_NOT_IN_FLASH_MODE),
                  Expect(OP_FLASH_DEFL_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_NOT_IN_FLASH_MODE),
              }));
    EXPECT_EQ(model().flash.page_programs, 0u);
}

TEST_F(StubProtocol, FlashBeginChecksItsParameters) {
    EXPECT_EQ(Run({{Request(OP_FLASH_BEGIN, Words({0x1000, 1, kBlock}))},
                   {Request(OP_FLASH_BEGIN, Words({0x1000, 1, kBlock + 1, 0}))},
                   {Request(OP_FLASH_DEFL_BEGIN, Words({0x1000, 1, kBlock, 0, 1}))},
                   {Request(OP_FLASH_BEGIN, Words({0x1000, 1, kBlock, 0x1000, 0}))},
                   {Request(OP_FLASH_END, Words({1}))}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_FLASH_BEGIN, RESPONSE_BAD_BLOCK_SIZE),
                  Expect(OP_FLASH_DEFL_BEGIN, RESPONSE_NOT_IMPLEMENTED), // encrypted write
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),                   // 5 words, not encrypted
                  Expect(OP_FLASH_END, RESPONSE_BAD_DATA_LENGTH), // announced bytes never came
              }));
}

TEST_F(StubProtocol, ProgramFailureIsReportedOnTheNextCommandOnly) {
    const uint32_t offset = 0x10000;
    Bytes image = RandomBytes(3 * kBlock, 14);
    image[kBlock + 100] = 0x00;
    model().flash.stuck_at = offset + kBlock + 100; // inside D1
    auto s = WriteScript(offset, image, false);     // BEGIN D0 D1 D2 END
    EXPECT_EQ(Run({s[0], s[1], s[2], s[3], {Request(OP_READ_REG, Words({0}))}, {SyncRequest(), 8}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_OK), // answered before the write failed
                  Expect(OP_FLASH_DATA, RESPONSE_SPI_FAILED),
                  Expect(OP_READ_REG, RESPONSE_OK),
                  Expect(OP_SYNC, RESPONSE_OK),
              }));
    // D2 carried the error and was not written.
    EXPECT_EQ(FlashAt(offset + 2 * kBlock, kBlock), Bytes(kBlock, 0xFF));
}

TEST_F(StubProtocol, ProgramFailureInTheLastBlockIsReportedByFlashEnd) {
    const uint32_t offset = 0x10000;
    Bytes image = RandomBytes(2 * kBlock, 15);
    image[2 * kBlock - 1] = 0x00;
    model().flash.stuck_at = offset + 2 * kBlock - 1;
    auto s = WriteScript(offset, image, false);
    EXPECT_EQ(Run({s[0], s[1], s[2], s[3], {Request(OP_READ_REG, Words({0}))}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_END, RESPONSE_SPI_FAILED),
                  Expect(OP_READ_REG, RESPONSE_OK),
              }));
}

TEST_F(StubProtocol, WriteProtectedFlashFailsWithSpiError) {
    model().flash.write_protected = true;
    auto s = WriteScript(0x10000, RandomBytes(kBlock, 16), false);
    EXPECT_EQ(Run({s[0],
                   s[1],
                   s[2],
                   {Request(OP_ERASE_REGION, Words({0x10000, 0x1000}))},
                   {Request(OP_ERASE_FLASH, {})}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_END, RESPONSE_SPI_FAILED),
                  Expect(OP_ERASE_REGION, RESPONSE_SPI_FAILED),
                  Expect(OP_ERASE_FLASH, RESPONSE_SPI_FAILED),
              }));
}

TEST_F(StubProtocol, CorruptDeflateDataIsReportedOnTheNextCommand) {
    auto s = WriteScript(0x70000, FirmwareLike(100000, 17), true); // BEGIN D0 D1 ... END
    ASSERT_GE(s.size(), 4u);
    // D0 with a broken zlib header (compression method 9), correctly checksummed.
    Bytes z0(s[1].frame.begin() + 24, s[1].frame.end());
    z0[0] = 0x79;
    Step bad{DataRequest(OP_FLASH_DEFL_DATA, z0, 0)};
    EXPECT_EQ(Run({s[0], bad, s[2], {Request(OP_READ_REG, Words({0}))}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_DEFL_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DEFL_DATA, RESPONSE_OK),
                  Expect(OP_FLASH_DEFL_DATA, RESPONSE_INFLATE_ERROR),
                  Expect(OP_READ_REG, RESPONSE_OK),
              }));
}

TEST_F(StubProtocol, BadAdlerTrailerIsReportedByDeflEnd) {
    const Bytes image = FirmwareLike(50000, 18);
    Bytes z = Compress(image);
    z.back() ^= 0x5A;
    const uint32_t blocks = uint32_t((z.size() + kBlock - 1) / kBlock);
    std::vector<Step> script{
        {Request(OP_FLASH_DEFL_BEGIN, Words({uint32_t(image.size()), blocks, kBlock, 0x90000}))}};
    for (uint32_t i = 0; i < blocks; ++i) {
        size_t from = size_t(i) * kBlock, to = std::min(z.size(), from + kBlock);
        script.push_back({DataRequest(OP_FLASH_DEFL_DATA,
                                      Bytes(z.begin() + long(from), z.begin() + long(to)), i)});
    }
    script.push_back({Request(OP_FLASH_DEFL_END, Words({1}))});
    script.push_back({Request(OP_READ_REG, Words({0}))});
    auto replies = Run(script);
    ASSERT_EQ(replies.size(), script.size());
    EXPECT_EQ(replies[replies.size() - 2], Expect(OP_FLASH_DEFL_END, RESPONSE_INFLATE_ERROR));
    EXPECT_EQ(replies.back(), Expect(OP_READ_REG, RESPONSE_OK));
}

TEST_F(StubProtocol, DeflateOutputBeyondTheAnnouncedSizeIsTooMuchData) {
    const uint32_t offset = 0xA0000;
    const Bytes image = FirmwareLike(60000, 19);
    auto script = WriteScript(offset, image, true);
    // Announce 1000 bytes; the first block inflates to far more.
    Bytes begin(script[0].frame.begin() + 8, script[0].frame.end());
    begin[0] = uint8_t(1000), begin[1] = uint8_t(1000 >> 8), begin[2] = 0;
    EXPECT_EQ(Run({{Request(OP_FLASH_DEFL_BEGIN, begin)},
                   script[1],
                   {Request(OP_READ_REG, Words({0}))},
                   {Request(OP_READ_REG, Words({0}))}}),
              (std::vector<std::string>{
                  Expect(OP_FLASH_DEFL_BEGIN, RESPONSE_OK),
                  Expect(OP_FLASH_DEFL_DATA, RESPONSE_OK),
                  Expect(OP_READ_REG, RESPONSE_TOO_MUCH_DATA),
                  Expect(OP_READ_REG, RESPONSE_OK),
              }));
    // Nothing was written past the announced end.
    EXPECT_EQ(FlashAt(offset + 1000, 0x10000), Bytes(0x10000, 0xFF));
}

// ------------------------------------------------------------------------------------------------
// READ_FLASH.

class StubReadFlash : public StubProtocol {
protected:
    void Fill() {
        content_ = RandomBytes(0x40000, 20);
        std::copy(content_.begin(), content_.end(), model().flash.bytes.begin() + kBase);
    }
    void Check(uint32_t offset, uint32_t length, uint32_t packet, uint32_t in_flight,
               AckPolicy policy) {
        auto groups = ReadFlash(kBase + offset, length, packet, in_flight, policy);
        ASSERT_EQ(groups.size(), 2u);
        ASSERT_FALSE(groups[0].empty());
        EXPECT_EQ(Describe(groups[0][0]), Expect(OP_READ_FLASH, RESPONSE_OK));
        const ReadFlashHost &r = *reader_;
        EXPECT_TRUE(SameBytes(Bytes(content_.begin() + offset, content_.begin() + offset + length),
                              r.data));
        EXPECT_TRUE(r.bad_packet_sizes.empty()) << "packet " << r.bad_packet_sizes.front();
        ASSERT_TRUE(r.digest.has_value());
        auto md5 = Md5(content_.data() + offset, length);
        EXPECT_EQ(*r.digest, Bytes(md5.begin(), md5.end()));
        EXPECT_EQ(groups[0].size(), 1 + r.data_frames + 1) << "frames after the digest";
        EXPECT_LE(r.max_unacked, in_flight ? in_flight : 1);
        // Back in command mode.
        ASSERT_EQ(groups[1].size(), 1u);
        EXPECT_EQ(Describe(groups[1][0]), Expect(OP_READ_REG, RESPONSE_OK));
    }
    static constexpr uint32_t kBase = 0x200000;
    Bytes content_;
};

TEST_F(StubReadFlash, StreamsPacketsInOrderThenTheDigestAsEsptoolAcks) {
    Fill();
    Check(0x123, 5 * 0x1000 + 0x321, 0x1000, 64, AckPolicy::kEachPacket);
    EXPECT_EQ(reader_->data_frames, 6u);
}

TEST_F(StubReadFlash, FillsButNeverExceedsTheWindow) {
    Fill();
    Check(0, 10 * 0x400, 0x400, 3, AckPolicy::kOneTotalWhenQuiet);
    EXPECT_EQ(reader_->max_unacked, 3u) << "the stub keeps `in_flight` packets under way";
}

TEST_F(StubReadFlash, InFlightOneAndZeroMeanOnePacketAtATime) {
    Fill();
    Check(0x10, 4 * 0x800 + 1, 0x800, 1, AckPolicy::kOneTotalWhenQuiet);
    EXPECT_EQ(reader_->max_unacked, 1u);
    Check(0x10, 3 * 0x800, 0x800, 0, AckPolicy::kOneTotalWhenQuiet);
    EXPECT_EQ(reader_->max_unacked, 1u);
}

TEST_F(StubReadFlash, AcksOfSeveralPacketsArriveBackToBackMidStream) {
    // The host falls behind and acknowledges each packet in a burst while the stub waits: only the
    // first ack of a burst gets a frame buffer, a later one brings the rest. With 8 packets in a
    // window of 3 the bursts are 3, 1, 3, 1: the last packet is acknowledged alone.
    Fill();
    Check(0, 8 * 0x1000, 0x1000, 3, AckPolicy::kEachPacketWhenQuiet);
}

// esptool acks every packet; a host that read two packets at once sends two acks back to back.
// With one of its two frame buffers holding the READ_FLASH request, a stub that queued acks as
// frames would drop the second of such a burst and, were it the final one, wait forever.
TEST_F(StubReadFlash, FinalAcksArrivingBackToBackAreNotLost) {
    // Bursts of 3, 1, 2 acks: the final burst loses the ack for everything.
    Fill();
    Check(0, 6 * 0x1000, 0x1000, 3, AckPolicy::kEachPacketWhenQuiet);
}

// A window of 0x100000 packets of 0x1000 bytes overflows 32 bits if computed in bytes: the stub
// would send nothing and wait for acks forever.
TEST_F(StubReadFlash, HugeInFlightCountDoesNotOverflowTheWindow) {
    Fill();
    Check(0, 2 * 0x1000, 0x1000, 0x100000, AckPolicy::kEachPacket);
}

TEST_F(StubReadFlash, EmptyReadSendsOnlyTheDigest) {
    Fill();
    Check(0, 0, 0x1000, 64, AckPolicy::kEachPacket);
    EXPECT_EQ(reader_->data_frames, 0u);
}

TEST_F(StubReadFlash, BadParametersAreRefusedWithoutAStream) {
    EXPECT_EQ(Run({{Request(OP_READ_FLASH, Words({0, 0x1000, 0, 64}))},
                   {Request(OP_READ_FLASH, Words({0, 0x2000, 0x1001, 64}))},
                   {Request(OP_READ_FLASH, Words({0, 0x1000, 0x1000}))},
                   {SyncRequest(), 8}}),
              (std::vector<std::string>{
                  Expect(OP_READ_FLASH, RESPONSE_BAD_BLOCK_SIZE),
                  Expect(OP_READ_FLASH, RESPONSE_BAD_BLOCK_SIZE),
                  Expect(OP_READ_FLASH, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_SYNC, RESPONSE_OK),
              }));
}

// ------------------------------------------------------------------------------------------------
// Erasing.

TEST_F(StubProtocol, EraseRegionErasesExactlyTheRegion) {
    model().flash.Fill(0x00);
    // [0xF000, 0x31000): sector, two 64 KiB blocks, sector.
    EXPECT_EQ(Exchange(Request(OP_ERASE_REGION, Words({0xF000, 0x22000}))).status, RESPONSE_OK);
    const Bytes &flash = model().flash.bytes;
    EXPECT_EQ(flash[0xEFFF], 0x00);
    EXPECT_EQ(FlashAt(0xF000, 0x22000), Bytes(0x22000, 0xFF));
    EXPECT_EQ(flash[0x31000], 0x00);
    EXPECT_EQ(std::count(flash.begin(), flash.end(), 0xFF), 0x22000);
    EXPECT_EQ(model().flash.block_erases, 2u);
    EXPECT_EQ(model().flash.sector_erases, 2u);
    EXPECT_EQ(Exchange(Request(OP_ERASE_REGION, Words({0x100000, 0}))).status, RESPONSE_OK);
    EXPECT_EQ(std::count(flash.begin(), flash.end(), 0xFF), 0x22000);
}

TEST_F(StubProtocol, UnalignedEraseRegionIsRefusedAndErasesNothing) {
    model().flash.Fill(0x00);
    EXPECT_EQ(Run({{Request(OP_ERASE_REGION, Words({0x1800, 0x1000}))},
                   {Request(OP_ERASE_REGION, Words({0x1000, 0x1800}))},
                   {Request(OP_ERASE_REGION, Words({0x1000}))}}),
              (std::vector<std::string>{
                  Expect(OP_ERASE_REGION, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_ERASE_REGION, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_ERASE_REGION, RESPONSE_BAD_DATA_LENGTH),
              }));
    const Bytes &flash = model().flash.bytes;
    EXPECT_EQ(std::count(flash.begin(), flash.end(), 0xFF), 0);
}

TEST_F(StubProtocol, EraseFlashErasesTheWholeChip) {
    model().flash.Fill(0x3C);
    EXPECT_EQ(Exchange(Request(OP_ERASE_FLASH, {})).status, RESPONSE_OK);
    EXPECT_EQ(model().flash.chip_erases, 1u);
    const Bytes &flash = model().flash.bytes;
    EXPECT_EQ(size_t(std::count(flash.begin(), flash.end(), 0xFF)), flash.size());
}

// ------------------------------------------------------------------------------------------------
// MEM_* downloads: the stub writes to absolute 32-bit addresses, so these tests need memory the
// host maps below 4 GiB (MAP_32BIT, x86-64 Linux); elsewhere they are skipped.

class LowMemory {
public:
    explicit LowMemory(size_t size) : size_(size) {
#ifdef MAP_32BIT
        void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (p != MAP_FAILED && reinterpret_cast<uintptr_t>(p) + size <= 0xFFFFFFFFu)
            data_ = static_cast<uint8_t *>(p);
        else if (p != MAP_FAILED)
            munmap(p, size);
#endif
    }
    ~LowMemory() {
        if (data_) munmap(data_, size_);
    }
    LowMemory(const LowMemory &) = delete;
    LowMemory &operator=(const LowMemory &) = delete;
    uint8_t *data() const {
        return data_;
    }
    uint32_t address() const {
        return uint32_t(reinterpret_cast<uintptr_t>(data_));
    }

private:
    size_t size_;
    uint8_t *data_ = nullptr;
};

TEST_F(StubProtocol, MemDownloadWritesEachBlockOnceAndJumpsAfterAnswering) {
    LowMemory memory(0x10000);
    if (!memory.data()) GTEST_SKIP() << "no memory below 4 GiB on this host";
    std::fill(memory.data(), memory.data() + 0x10000, 0xEE);
    const uint32_t base = memory.address() + 0x100;
    const Bytes image = RandomBytes(0x1800 + 0x900, 21);
    const Bytes b0(image.begin(), image.begin() + 0x1800), b1(image.begin() + 0x1800, image.end());
    const uint32_t entry = 0x40380124;
    EXPECT_EQ(Run({{Request(OP_MEM_BEGIN, Words({uint32_t(image.size()), 2, 0x1800, base}))},
                   {DataRequest(OP_MEM_DATA, b0, 0)},
                   {DataRequest(OP_MEM_DATA, b0, 0)}, // its answer was lost: sent again
                   {DataRequest(OP_MEM_DATA, b1, 1)},
                   {DataRequest(OP_MEM_DATA, Bytes(4, 0), 2)}, // past the announced size
                   {Request(OP_MEM_END, Words({1, 0}))}}),
              (std::vector<std::string>{
                  Expect(OP_MEM_BEGIN, RESPONSE_OK),
                  Expect(OP_MEM_DATA, RESPONSE_OK),
                  Expect(OP_MEM_DATA, RESPONSE_OK),
                  Expect(OP_MEM_DATA, RESPONSE_OK),
                  Expect(OP_MEM_DATA, RESPONSE_TOO_MUCH_DATA),
                  Expect(OP_MEM_END, RESPONSE_OK),
              }));
    EXPECT_TRUE(
        SameBytes(image, Bytes(memory.data() + 0x100, memory.data() + 0x100 + image.size())));
    EXPECT_EQ(memory.data()[0xFF], 0xEE);
    EXPECT_EQ(memory.data()[0x100 + image.size()], 0xEE);
    EXPECT_TRUE(model().jumps.empty()) << "MEM_END(1, ...) stays in the loader";

    EXPECT_EQ(Exchange(Request(OP_MEM_END, Words({0, entry}))).status, RESPONSE_OK);
    ASSERT_EQ(model().jumps, (std::vector<uint32_t>{entry}));
    // The answer had left the UART completely before the jump.
    EXPECT_EQ(model().tx_fifo_size_at_jump, 0u);
    EXPECT_EQ(model().wire_size_at_jump[0], model().uart.wire.size());
}

// A MEM_DATA refused for its size is not "received": sent again with the right size under the same
// sequence number it must be written, not taken for a repeat and dropped.
TEST_F(StubProtocol, MemDataRefusedForItsSizeDoesNotUseUpItsSequence) {
    LowMemory memory(0x1000);
    if (!memory.data()) GTEST_SKIP() << "no memory below 4 GiB on this host";
    std::fill(memory.data(), memory.data() + 0x1000, 0xEE);
    const Bytes image = RandomBytes(0x100, 22);
    Bytes too_big = image;
    too_big.resize(0x200, 0);
    EXPECT_EQ(Run({{Request(OP_MEM_BEGIN, Words({0x100, 1, 0x1800, memory.address()}))},
                   {DataRequest(OP_MEM_DATA, too_big, 0)},
                   {DataRequest(OP_MEM_DATA, image, 0)}}),
              (std::vector<std::string>{
                  Expect(OP_MEM_BEGIN, RESPONSE_OK),
                  Expect(OP_MEM_DATA, RESPONSE_TOO_MUCH_DATA),
                  Expect(OP_MEM_DATA, RESPONSE_OK),
              }));
    EXPECT_TRUE(SameBytes(image, Bytes(memory.data(), memory.data() + image.size())));
}

TEST_F(StubProtocol, MemBeginChecksItsParameters) {
    EXPECT_EQ(Run({{Request(OP_MEM_BEGIN, Words({0x100, 1, 0x1800}))},
                   {Request(OP_MEM_BEGIN, Words({0x100, 1, kBlock + 4, 0x3FC84000}))},
                   {Request(OP_MEM_END, Words({1}))}}),
              (std::vector<std::string>{
                  Expect(OP_MEM_BEGIN, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_MEM_BEGIN, RESPONSE_BAD_BLOCK_SIZE),
                  Expect(OP_MEM_END, RESPONSE_BAD_DATA_LENGTH),
              }));
    EXPECT_TRUE(model().jumps.empty());
}

// ------------------------------------------------------------------------------------------------
// Malformed frames: always an answer or silence, never a crash or a hang.

TEST_F(StubProtocol, FrameOverCapacityGetsBadLengthAndTheStubCarriesOn) {
    // Exactly STUB_FRAME_CAPACITY bytes is still a frame (an unknown opcode here); one more is not.
    Bytes fits = Request(0x55, Bytes(STUB_FRAME_CAPACITY - 8, 0xC0));
    Bytes over = Request(OP_FLASH_DATA, Bytes(STUB_FRAME_CAPACITY - 7, 0xDB));
    Bytes far_over = Request(OP_SYNC, Bytes(0xFFFF, 0x00));
    EXPECT_EQ(Run({{fits}, {over}, {far_over}, {SyncRequest(), 8}}),
              (std::vector<std::string>{
                  Expect(0x55, RESPONSE_INVALID_COMMAND),
                  Expect(OP_FLASH_DATA, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_SYNC, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_SYNC, RESPONSE_OK),
              }));
}

TEST_F(StubProtocol, FrameTruncatedToCapacityIsNotExecuted) {
    // The size field matches the first STUB_FRAME_CAPACITY bytes, but more follow: the stub must
    // not run the truncated command.
    const Bytes entry = Words({0x600, 0xAA, 0xFFFFFFFF, 0});
    Bytes entries;
    while (entries.size() + entry.size() <= STUB_FRAME_CAPACITY - 8)
        entries.insert(entries.end(), entry.begin(), entry.end());
    ASSERT_EQ(entries.size(), STUB_FRAME_CAPACITY - 8);
    Bytes frame = Request(OP_WRITE_REG, entries);
    Bytes tail = Words({0x600, 0xBB, 0xFFFFFFFF, 0});
    frame.insert(frame.end(), tail.begin(), tail.end());
    EXPECT_EQ(Run({{frame}, {Request(OP_READ_REG, Words({0x600}))}}),
              (std::vector<std::string>{Expect(OP_WRITE_REG, RESPONSE_BAD_DATA_LENGTH),
                                        Expect(OP_READ_REG, RESPONSE_OK)}));
    EXPECT_EQ(model().registers.count(0x600), 0u);
}

TEST_F(StubProtocol, SizeFieldThatDisagreesWithTheFrameGetsBadLength) {
    Bytes shorter = SyncRequest();
    shorter.pop_back(); // size field says 36, 35 bytes follow
    Bytes longer = Request(OP_READ_REG, Words({0x1000}));
    longer.push_back(0); // size field says 4, 5 bytes follow
    Bytes huge = Request(OP_READ_REG, Words({0x1000}));
    huge[2] = huge[3] = 0xFF;
    EXPECT_EQ(Run({{shorter}, {longer}, {huge}, {Request(OP_READ_REG, Words({0x1000}))}}),
              (std::vector<std::string>{
                  Expect(OP_SYNC, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_READ_REG, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_READ_REG, RESPONSE_BAD_DATA_LENGTH),
                  Expect(OP_READ_REG, RESPONSE_OK),
              }));
}

TEST_F(StubProtocol, ShortFramesAndNoiseAreIgnored) {
    model().uart.Push({0x11, 0x22, 0xDB, 0x33}); // line noise before any frame
    EXPECT_EQ(Run({{Bytes{0x00, OP_SYNC, 0x00}, 0},
                   {Bytes{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 0},
                   {SyncRequest(), 8}}),
              (std::vector<std::string>{"no reply", "no reply", Expect(OP_SYNC, RESPONSE_OK)}));
    // A stray READ_FLASH acknowledgement (4 bytes) outside a stream is ignored too.
    model().uart.Push(Slip(Words({0x1000})));
    EXPECT_EQ(Run({{Request(OP_READ_REG, Words({0}))}}),
              (std::vector<std::string>{Expect(OP_READ_REG, RESPONSE_OK)}));
}

TEST_F(StubProtocol, DoubledDelimitersAreTolerated) {
    // C0 C0 before a frame (a host flushing line noise) and C0 C0 between frames.
    Bytes a = Slip(Request(OP_READ_REG, Words({0x10}))),
          b = Slip(Request(OP_READ_REG, Words({0x20})));
    a.insert(a.begin(), 0xC0);
    b.insert(b.begin(), 0xC0);
    model().registers[0x10] = 1;
    model().registers[0x20] = 2;
    auto groups = Converse({{a, 1, false, true, true}, {b, 1, false, true, true}});
    ASSERT_EQ(groups.size(), 2u);
    ASSERT_EQ(groups[0].size(), 1u);
    ASSERT_EQ(groups[1].size(), 1u);
    EXPECT_EQ(ParseReply(groups[0][0]).value, 1u);
    EXPECT_EQ(ParseReply(groups[1][0]).value, 2u);
}

TEST_F(StubProtocol, FramesQueuedBehindEachOtherAreAnsweredInOrder) {
    // Two requests back to back fill both frame buffers; a third follows the first answer. The
    // answers must come in request order.
    for (uint32_t r = 1; r <= 3; ++r) model().registers[r] = 100 + r;
    auto groups = Converse({{Request(OP_READ_REG, Words({1})), 1, false, false},
                            {Request(OP_READ_REG, Words({2}))},
                            {Request(OP_READ_REG, Words({3}))}});
    std::vector<uint32_t> values;
    for (const auto &group : groups)
        for (const auto &frame : group) values.push_back(ParseReply(frame).value);
    EXPECT_EQ(values, (std::vector<uint32_t>{101, 102, 103}));
}

TEST_F(StubProtocol, WrongDirectionAndUnknownOpcodesAreInvalidCommands) {
    Bytes reply_shaped = SyncRequest();
    reply_shaped[0] = 0x01;
    EXPECT_EQ(Run({{reply_shaped}, {Request(0x14, {})}, {Request(0xD3, {})}, {Request(0xFF, {1})}}),
              (std::vector<std::string>{
                  Expect(OP_SYNC, RESPONSE_INVALID_COMMAND),
                  Expect(0x14, RESPONSE_INVALID_COMMAND),
                  Expect(0xD3, RESPONSE_INVALID_COMMAND),
                  Expect(0xFF, RESPONSE_INVALID_COMMAND),
              }));
}

// Every opcode with every awkward payload size gets exactly one well-formed answer with its own
// opcode (SYNC: eight). Opcodes whose valid sizes would start long work are left out: MEM_BEGIN and
// MEM_DATA (absolute addresses), SPI_FLASH_MD5 and READ_FLASH and ERASE_REGION (random lengths).
TEST_F(StubProtocol, EveryOpcodeAndPayloadSizeGetsOneAnswer) {
    std::mt19937 rng(23);
    const Bytes sync = SyncRequest();
    std::vector<Step> script;
    for (int op = 0; op < 256; ++op) {
        for (size_t size : {0, 1, 3, 4, 8, 12, 15, 16, 17, 20, 24, 36, 64}) {
            bool long_work = (op == OP_MEM_BEGIN && size == 16) || op == OP_MEM_DATA ||
                             (op == OP_SPI_FLASH_MD5 && size == 16) ||
                             (op == OP_READ_FLASH && size == 16) ||
                             (op == OP_ERASE_REGION && size == 8);
            if (long_work) continue;
            Bytes data(size);
            for (auto &b : data) b = uint8_t(rng());
            if (op == OP_SYNC && size == 36) data.assign(sync.begin() + 8, sync.end());
            script.push_back(
                {Request(uint8_t(op), data, rng()), op == OP_SYNC && size == 36 ? 8u : 1u});
        }
    }
    auto groups = Converse(script);
    ASSERT_EQ(groups.size(), script.size());
    for (size_t k = 0; k < script.size(); ++k) {
        SCOPED_TRACE("op " + Hex32(script[k].frame[1], 2) + " size " +
                     std::to_string(script[k].frame.size() - 8));
        ASSERT_EQ(groups[k].size(), script[k].replies);
        Reply r = ParseReply(groups[k][0]);
        ASSERT_TRUE(r.well_formed);
        EXPECT_EQ(r.direction, 1);
        EXPECT_EQ(r.op, script[k].frame[1]);
    }
}

} // namespace
