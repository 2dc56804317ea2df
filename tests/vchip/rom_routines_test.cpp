// The ROM routines esp-vchip serves, called as running code calls them: arguments in a0..a7,
// structures in the code's memory. Each result is checked against an independent computation
// (zlib, llvm::MD5, the flash model read directly), not against the routine's own output.
#include "null_bus.h"
#include "riscv_cpu.h"
#include "rom_routines.h"
#include "spi_flash.h"

#include <gtest/gtest.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/MD5.h>

#include <zlib.h>

#include <random>

namespace vchip = esptools::vchip;
namespace chipdb = esptools::chipdb;
using chipdb::RomRoutine;

namespace {

constexpr uint32_t kRam = 0x3FC80000; // the ESP32-C3's DRAM

struct FlatMemory final : vchip::GuestMemory {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(0x60000);
    bool inside(uint32_t address, size_t size) const {
        return address >= kRam && uint64_t(address) + size <= kRam + bytes.size();
    }
    bool read(uint32_t address, std::span<uint8_t> out) override {
        if (!inside(address, out.size())) return false;
        std::copy_n(bytes.begin() + (address - kRam), out.size(), out.begin());
        return true;
    }
    bool write(uint32_t address, std::span<const uint8_t> in) override {
        if (!inside(address, in.size())) return false;
        std::copy(in.begin(), in.end(), bytes.begin() + (address - kRam));
        return true;
    }
    uint8_t *at(uint32_t address) { return bytes.data() + (address - kRam); }
    uint32_t word(uint32_t address) {
        const uint8_t *p = at(address);
        return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    }
    void setWord(uint32_t address, uint32_t value) {
        for (int i = 0; i < 4; ++i) at(address)[i] = uint8_t(value >> (8 * i));
    }
    void put(uint32_t address, std::span<const uint8_t> data) {
        std::copy(data.begin(), data.end(), at(address));
    }
};

struct RecordingBus final : vchip::testing::NullBus {
    std::string sent;
    void uartSend(uint8_t byte) override { sent.push_back(char(byte)); }
    std::vector<uint8_t> securityInfo() override { return {1, 2, 3}; }
};

struct RomRoutinesTest : ::testing::Test {
    FlatMemory memory;
    RecordingBus bus;
    const chipdb::ChipDescription &chip = *chipdb::findChip("esp32c3");
    vchip::RomRoutines routines{chip, bus, memory};

    uint32_t call(RomRoutine routine, std::initializer_list<uint32_t> list, uint32_t stack = 0) {
        std::array<uint32_t, 8> args{};
        std::copy(list.begin(), list.end(), args.begin());
        auto outcome = routines.call(routine, args, stack);
        if (!outcome) {
            ADD_FAILURE() << llvm::toString(outcome.takeError());
            return 0xDEADBEEF;
        }
        return outcome->result;
    }
};

std::vector<uint8_t> someData(size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::vector<uint8_t> data(size);
    // Runs of repeated bytes between random ones: compressible, but not trivially.
    for (size_t i = 0; i < size; ++i) data[i] = (i / 64) % 3 ? uint8_t(i / 64) : uint8_t(random());
    return data;
}

std::string md5Hex(std::span<const uint8_t> data) {
    llvm::MD5 hash;
    hash.update(llvm::ArrayRef<uint8_t>(data.data(), data.size()));
    llvm::MD5::MD5Result result;
    hash.final(result);
    return std::string(result.digest().str());
}

TEST_F(RomRoutinesTest, Md5KeepsItsStateInTheCallersContextAcrossCalls) {
    const uint32_t context = kRam, buffer = kRam + 0x100, digest = kRam + 0x80;
    auto data = someData(10'000, 1);
    memory.put(buffer, data);
    call(RomRoutine::Md5Init, {context});
    // MD5Context: buf[4] holds the chaining words, starting at MD5's initial values.
    EXPECT_EQ(memory.word(context), 0x67452301u);
    EXPECT_EQ(memory.word(context + 12), 0x10325476u);
    // Pieces that split 64-byte blocks unevenly.
    for (uint32_t done = 0, piece = 1; done < data.size(); done += piece, piece = piece * 3 + 7) {
        piece = std::min<uint32_t>(piece, uint32_t(data.size()) - done);
        call(RomRoutine::Md5Update, {context, buffer + done, piece});
    }
    EXPECT_EQ(memory.word(context + 16), uint32_t(data.size() * 8)) << "bits[0]: the bit count";
    call(RomRoutine::Md5Final, {digest, context});
    EXPECT_EQ(llvm::toHex(llvm::ArrayRef<uint8_t>(memory.at(digest), 16), true), md5Hex(data));
}

TEST_F(RomRoutinesTest, MbedtlsMd5AsTheEsp32c2RomHasIt) {
    const uint32_t context = kRam, buffer = kRam + 0x100, digest = kRam + 0x80;
    auto data = someData(1000, 2);
    memory.put(buffer, data);
    EXPECT_EQ(call(RomRoutine::MbedtlsMd5Starts, {context}), 0u);
    call(RomRoutine::MbedtlsMd5Update, {context, buffer, 100});
    EXPECT_EQ(memory.word(context), 100u) << "total[0]: the byte count";
    call(RomRoutine::MbedtlsMd5Update, {context, buffer + 100, 900});
    EXPECT_EQ(call(RomRoutine::MbedtlsMd5Finish, {context, digest}), 0u);
    EXPECT_EQ(llvm::toHex(llvm::ArrayRef<uint8_t>(memory.at(digest), 16), true), md5Hex(data));
}

// As esptool's stubs drive it: a zlib stream in blocks, a 32 KB output window that wraps.
TEST_F(RomRoutinesTest, InflateTakesAZlibStreamInPiecesIntoAWrappingWindow) {
    auto data = someData(200'000, 3);
    uLongf packed_size = compressBound(uLong(data.size()));
    std::vector<uint8_t> packed(packed_size);
    ASSERT_EQ(compress2(packed.data(), &packed_size, data.data(), uLong(data.size()), 9), Z_OK);
    packed.resize(packed_size);

    const uint32_t decompressor = kRam, in_size = kRam + 0x10, out_size = kRam + 0x14;
    const uint32_t input = kRam + 0x100, window = kRam + 0x10000, kWindow = 0x8000;
    constexpr uint32_t kParseZlibHeader = 1, kHasMoreInput = 2;
    auto inflateAll = [&](std::span<const uint8_t> stream, uint32_t piece_size) {
        std::vector<uint8_t> out;
        uint32_t out_next = window;
        int32_t status = 1;
        memory.setWord(decompressor, 0); // tinfl_init
        for (size_t fed = 0; fed < stream.size() || status == 2;) {
            uint32_t piece = uint32_t(std::min<size_t>(piece_size, stream.size() - fed));
            memory.put(input, stream.subspan(fed, piece));
            uint32_t offset = 0;
            do {
                memory.setWord(in_size, piece - offset);
                memory.setWord(out_size, window + kWindow - out_next);
                const bool more = fed + piece < stream.size();
                status = int32_t(call(RomRoutine::Inflate,
                                      {decompressor, input + offset, in_size, window, out_next,
                                       out_size, kParseZlibHeader | (more ? kHasMoreInput : 0)}));
                const uint32_t produced = memory.word(out_size);
                out.insert(out.end(), memory.at(out_next), memory.at(out_next) + produced);
                out_next = window + (out_next - window + produced) % kWindow;
                offset += memory.word(in_size);
            } while (status == 2 || (status == 1 && offset < piece));
            fed += piece;
            if (status <= 0) break;
        }
        return std::make_pair(status, out);
    };
    auto [status, out] = inflateAll(packed, 4096);
    EXPECT_EQ(status, 0) << "TINFL_STATUS_DONE";
    EXPECT_TRUE(out == data) << "inflated " << out.size() << " bytes of " << data.size();

    // tinfl_init again: a new stream in the same structure.
    auto second = someData(5000, 4);
    uLongf second_size = compressBound(uLong(second.size()));
    std::vector<uint8_t> second_packed(second_size);
    compress2(second_packed.data(), &second_size, second.data(), uLong(second.size()), 1);
    second_packed.resize(second_size);
    auto [second_status, second_out] = inflateAll(second_packed, 1000);
    EXPECT_EQ(second_status, 0);
    EXPECT_TRUE(second_out == second);

    // A damaged stream fails, as tinfl's negative statuses say.
    second_packed[second_packed.size() / 2] ^= 0xFF;
    second_packed[second_packed.size() / 2 + 1] ^= 0x55;
    auto [bad_status, bad_out] = inflateAll(second_packed, 100'000);
    EXPECT_LT(bad_status, 0);
}

TEST_F(RomRoutinesTest, FlashRoutinesProgramPageByPageAndEraseThroughThePart) {
    ASSERT_FALSE(llvm::errorToBool(routines.initialise()));
    const uint32_t buffer = kRam + 0x1000, back = kRam + 0x2000;
    auto data = someData(700, 5);
    memory.put(buffer, data);
    // 0x10F0 + 700 bytes crosses three 256-byte page boundaries.
    EXPECT_EQ(call(RomRoutine::SpiFlashWrite, {0x10F0, buffer, 700}), 0u);
    std::vector<uint8_t> stored(700);
    bus.part->read(0x10F0, stored);
    EXPECT_TRUE(stored == data) << "the part holds what was written";
    EXPECT_EQ(call(RomRoutine::SpiFlashRead, {0x10F0, back, 700}), 0u);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.at(back)));
    EXPECT_EQ(call(RomRoutine::SpiFlashEraseSector, {1}), 0u); // 0x1000..0x1FFF
    bus.part->read(0x10F0, stored);
    EXPECT_TRUE(std::all_of(stored.begin(), stored.end(), [](uint8_t b) { return b == 0xFF; }));
    EXPECT_EQ(call(RomRoutine::SpiFlashRead, {bus.part->size() - 4, back, 8}), 1u)
        << "a read past the end is ESP_ROM_SPIFLASH_RESULT_ERR";
    EXPECT_EQ(call(RomRoutine::SpiFlashWriteEncrypted, {0x3000, buffer, 32}), 1u)
        << "no flash encryption in this model: the write fails";
    bus.part->read(0x3000, std::span(stored).first(32));
    EXPECT_TRUE(std::all_of(stored.begin(), stored.begin() + 32, [](uint8_t b) {
        return b == 0xFF;
    })) << "and writes nothing";
}

// Stubs read the part's size from the record esp_rom_spi_flash_update_id fills in.
TEST_F(RomRoutinesTest, TheRomsFlashRecordHoldsTheDeviceIdAndTheConfiguredParameters) {
    ASSERT_FALSE(llvm::errorToBool(routines.initialise()));
    const uint32_t record = memory.word(chip.rom_flash_record_pointer);
    ASSERT_TRUE(memory.inside(record, 24));
    call(RomRoutine::SpiFlashUpdateId, {});
    const uint32_t rdid = bus.part->jedecId(); // as the part sends it: manufacturer first
    EXPECT_EQ(memory.word(record) & 0xFF, rdid >> 16 & 0xFF) << "the capacity byte lowest";
    EXPECT_EQ(memory.word(record) >> 16 & 0xFF, rdid & 0xFF) << "the manufacturer highest";
    call(RomRoutine::SpiFlashConfigParam, {0xC84016, 0x200000, 0x10000, 0x1000, 0x100, 0xFFFF});
    EXPECT_EQ(memory.word(record + 4), 0x200000u) << "chip_size";
    const uint32_t back = kRam + 0x2000;
    EXPECT_EQ(call(RomRoutine::SpiFlashRead, {0x200000, back, 4}), 1u)
        << "beyond the configured size, as the ROM checks";
}

// esp_rom_opiflash_exec_cmd, as stubs use it for the flash id and 4-byte commands: thirteen
// arguments, five of them on the stack.
TEST_F(RomRoutinesTest, ExecCommandRunsOneTransactionOnThePart) {
    const uint32_t stack = kRam + 0x300, miso = kRam + 0x400, mosi = kRam + 0x500;
    auto exec = [&](uint32_t command, uint32_t address, uint32_t address_bits, uint32_t mosi_bits,
                    uint32_t miso_bits, bool write_erase) {
        for (uint32_t i = 0;
             uint32_t value : {mosi_bits, miso, miso_bits, 1u, uint32_t(write_erase)})
            memory.setWord(stack + 4 * i++, value);
        return call(RomRoutine::SpiFlashExecCommand,
                    {1, 0, command, 8, address, address_bits, 0, mosi}, stack);
    };
    EXPECT_EQ(exec(0x9F, 0, 0, 0, 24, false), 0u); // RDID
    const uint32_t rdid = bus.part->jedecId();
    EXPECT_EQ(memory.at(miso)[0], rdid & 0xFF);
    EXPECT_EQ(memory.at(miso)[2], rdid >> 16 & 0xFF);
    // WREN, then a page program of 4 bytes at 0x2000 through the same routine.
    exec(0x06, 0, 0, 0, 0, false);
    const uint8_t bytes[] = {0x12, 0x34, 0x56, 0x78};
    memory.put(mosi, bytes);
    exec(0x02, 0x2000, 24, 32, 0, true);
    uint8_t stored[4];
    bus.part->read(0x2000, stored);
    EXPECT_TRUE(std::equal(std::begin(bytes), std::end(bytes), stored));
}

TEST_F(RomRoutinesTest, PrintfFormatsArgumentsFromRegistersAndTheStack) {
    const uint32_t format = kRam + 0x100, text = kRam + 0x200, stack = kRam + 0x300;
    const char fmt[] = "%s=%d %u 0x%08x [%4d|%-3d] %c%% %x %x %x %x";
    memory.put(format, std::span(reinterpret_cast<const uint8_t *>(fmt), sizeof fmt));
    memory.put(text, std::span(reinterpret_cast<const uint8_t *>("count"), 6));
    memory.setWord(stack, 0xAB); // the 8th argument and on: on the caller's stack
    memory.setWord(stack + 4, 0xCD);
    memory.setWord(stack + 8, 0xEF);
    const uint32_t written =
        call(RomRoutine::Printf, {format, text, uint32_t(-5), 7, 0xBEEF, 42, 1, 'Z'}, stack);
    // a0 is the format, a1..a7 seven arguments; the last four %x come from the stack.
    EXPECT_EQ(bus.sent, "count=-5 7 0x0000beef [  42|1  ] Z% ab cd ef 0");
    EXPECT_EQ(written, bus.sent.size());
}

TEST_F(RomRoutinesTest, MemmoveCopiesOverlappingRangesAndBadPointersAreNamed) {
    const uint32_t at = kRam + 0x100;
    const uint8_t bytes[] = {1, 2, 3, 4, 5, 6, 7, 8};
    memory.put(at, bytes);
    call(RomRoutine::Memmove, {at + 2, at, 6});
    const uint8_t expected[] = {1, 2, 1, 2, 3, 4, 5, 6};
    EXPECT_TRUE(std::equal(std::begin(expected), std::end(expected), memory.at(at)));
    std::array<uint32_t, 8> args{0x10, at, 4};
    auto outcome = routines.call(RomRoutine::Memcpy, args, 0);
    ASSERT_FALSE(bool(outcome));
    const std::string message = llvm::toString(outcome.takeError());
    EXPECT_NE(message.find("memcpy"), std::string::npos) << message;
    EXPECT_NE(message.find("0x10"), std::string::npos) << message;
    // A length no chip's RAM holds is refused before anything is allocated for it.
    for (auto [routine, name] :
         {std::pair{RomRoutine::Memset, "memset"}, std::pair{RomRoutine::Memcpy, "memcpy"}}) {
        std::array<uint32_t, 8> huge{at, at, 0xF0000000};
        auto refused = routines.call(routine, huge, 0);
        ASSERT_FALSE(bool(refused)) << name;
        const std::string why = llvm::toString(refused.takeError());
        EXPECT_NE(why.find(name), std::string::npos) << why;
        EXPECT_NE(why.find("more than any chip's RAM"), std::string::npos) << why;
    }
    // MD5 takes its data in pieces, so it stops where the memory does.
    std::array<uint32_t, 8> long_update{at, at, 0xF0000000};
    auto stopped = routines.call(RomRoutine::Md5Update, long_update, 0);
    ASSERT_FALSE(bool(stopped));
    EXPECT_NE(llvm::toString(stopped.takeError()).find("is not memory"), std::string::npos);
    memory.setWord(at, 1);              // a stream in progress
    memory.setWord(at + 4, 0);          // *in_size
    memory.setWord(at + 8, 0xFFFFFFF0); // *out_size
    std::array<uint32_t, 8> inflate{at, at, at + 4, at, at, at + 8, 0};
    auto refused = routines.call(RomRoutine::Inflate, inflate, 0);
    ASSERT_FALSE(bool(refused));
    EXPECT_NE(llvm::toString(refused.takeError()).find("tinfl_decompress"), std::string::npos);
}

} // namespace
