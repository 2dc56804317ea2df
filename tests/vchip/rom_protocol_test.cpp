// Frames are built by hand here, from protocol.md, so the chip is checked against the reference
// rather than against the loader's encoder.
#include "rom_client.h"
#include "spi_flash.h"

#include <gtest/gtest.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/MemoryBuffer.h>

#include <random>

using namespace esptools;

using namespace rom_client;

TEST(VchipRom, SyncGetsEightRepliesWithTheRomsStatusLength) {
    for (auto [chip, status_bytes] : {std::pair{"esp8266", 2u}, {"esp32", 4u}, {"esp32c3", 4u}}) {
        Client client(chip);
        auto frames = client.send(request(0x08, syncPayload()));
        ASSERT_EQ(frames.size(), 8u) << chip;
        EXPECT_EQ(frames[0][1], 0x08);
        EXPECT_NE(frames[0][4] | frames[0][5] | frames[0][6] | frames[0][7], 0)
            << "a ROM SYNC reply carries a value";
        EXPECT_EQ(frames[0].size(), 8u + status_bytes) << chip;
    }
}

TEST(VchipRom, AnswersTheMagicRegisterAndRefusesWhatItsRomLacks) {
    EXPECT_EQ(Client("esp32").readReg(0x40001000), 0x00F01D83u);
    EXPECT_EQ(Client("esp8266").readReg(0x40001000), 0xFFF0C101u);
    // GET_SECURITY_INFO: unsupported on ESP32 (reply with another opcode and 01 05), 12 bytes on
    // ESP32-S2, 20 bytes with the chip id on later chips.
    auto frames = Client("esp32").send(request(0x14, {}));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_NE(frames[0][1], 0x14);
    EXPECT_EQ(frames[0][8], 0x01);
    EXPECT_EQ(frames[0][9], 0x05);
    frames = Client("esp32s2").send(request(0x14, {}));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].size(), 8u + 12 + 4);
    frames = Client("esp32c6").send(request(0x14, {}));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0][8 + 12], 13) << "ESP32-C6 chip id";
    // The ESP8266 ROM has no compressed download.
    frames = Client("esp8266").send(request(0x10, words({0, 0, 0x400, 0})));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_NE(frames[0][1], 0x10);
}

TEST(VchipRom, EncodesTheConfiguredMacInItsEfuseWords) {
    Client client("esp32c3?mac=11:22:33:44:55:66");
    uint32_t lo = client.readReg(0x60008844), hi = client.readReg(0x60008848);
    EXPECT_EQ(lo, 0x33445566u);
    EXPECT_EQ(hi & 0xFFFF, 0x1122u);
}

TEST(VchipRom, ReadsTheJedecIdThroughTheSpiUserRegisters) {
    Client client("esp32c3?size=8MB");
    const uint32_t base = 0x60002000;
    auto write = [&](uint32_t address, uint32_t value) {
        auto frames = client.send(request(0x09, words({address, value, 0xFFFFFFFF, 0})));
        ASSERT_EQ(frames.size(), 1u);
    };
    auto readId = [&] {
        write(base + 0x28, 23);                  // MISO_DLEN: 24 bits
        write(base + 0x18, 1u << 31 | 1u << 28); // USR: command + MISO phases
        write(base + 0x20, 7u << 28 | 0x9F);     // USR2: RDID
        write(base, 1u << 18);                   // CMD: go
        EXPECT_EQ(client.readReg(base) & (1u << 18), 0u);
        return client.readReg(base + 0x58);
    };
    // Until SPI_ATTACH sets up the pins, the flash does not answer: MISO floats high.
    EXPECT_EQ(readId() & 0xFFFFFF, 0xFFFFFFu);
    ASSERT_EQ(client.send(request(0x0D, words({0, 0}))).size(), 1u);
    EXPECT_EQ(readId(), 0x1740C8u); // GigaDevice, 8 MB (2^0x17)
}

TEST(VchipRom, FlashDownloadChecksDataAndAnswersMd5InHex) {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-vchip", dir));
    std::string file = (dir + "/flash.bin").str();
    Client client("esp32c3?flash=" + file);
    std::vector<uint8_t> block(0x400);
    for (size_t i = 0; i < block.size(); ++i) block[i] = uint8_t(i * 7);
    uint8_t checksum = 0xEF;
    for (uint8_t b : block) checksum ^= b;
    auto frames = client.send(request(0x02, words({0x400, 1, 0x400, 0x1000, 0})));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0][8], 0);
    auto data = words({0x400, 0, 0, 0});
    data.insert(data.end(), block.begin(), block.end());
    frames = client.send(request(0x03, data, uint8_t(checksum ^ 1)));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0][8], 1);
    EXPECT_EQ(frames[0][9], 0x07) << "a bad checksum is ROM error 0x107";
    frames = client.send(request(0x03, data, checksum));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0][8], 0);
    frames = client.send(request(0x13, words({0x1000, 0x400, 0, 0})));
    ASSERT_EQ(frames.size(), 1u);
    ASSERT_EQ(frames[0].size(), 8u + 32 + 4);
    std::string hex(frames[0].begin() + 8, frames[0].begin() + 40);
    llvm::MD5 md5; // the digest of the block as written, computed here
    md5.update(llvm::ArrayRef<uint8_t>(block));
    llvm::MD5::MD5Result digest;
    md5.final(digest);
    EXPECT_EQ(hex, std::string(digest.digest().str())) << "not the MD5 of the written data";
    frames = client.send(request(0x0E, words({0x1000, 16})));
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(std::equal(block.begin(), block.begin() + 16, frames[0].begin() + 8));
    llvm::sys::fs::remove_directories(dir);
}

TEST(VchipRom, MalformedInputNeverCrashesIt) {
    Client client("esp32s3");
    std::mt19937 random(1);
    for (int round = 0; round < 2000; ++round) {
        std::vector<uint8_t> noise(random() % 64);
        for (auto &b : noise) b = uint8_t(random());
        if (round % 3 == 0) noise = request(uint8_t(random()), noise, random());
        client.send(noise);
    }
    client.send({0xC0, 0xC0});
    client.drain();
    auto frames = client.send(request(0x08, syncPayload()));
    EXPECT_EQ(frames.size(), 8u) << "still answers after the noise";
}

TEST(VchipFlash, ProgramClearsBitsWrapsInItsPageAndEraseRestoresOnes) {
    auto flash = vchip::SpiFlash::open({1u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(flash));
    auto &f = **flash;
    std::vector<uint8_t> ones(4, 0x0F), out(4);
    ASSERT_EQ(f.programPage(0x100, ones), vchip::SpiFlash::Result::Ok);
    std::vector<uint8_t> more(4, 0xF0);
    ASSERT_EQ(f.programPage(0x100, more), vchip::SpiFlash::Result::Ok);
    f.read(0x100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0x00)) << "programming only clears bits";
    std::vector<uint8_t> wrap(8, 0x00);
    ASSERT_EQ(f.programPage(0x2FC, wrap), vchip::SpiFlash::Result::Ok);
    f.read(0x200, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0x00)) << "bytes past the page end wrap to its start";
    f.read(0x300, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF));
    ASSERT_EQ(f.eraseSector(0x123), vchip::SpiFlash::Result::Ok);
    f.read(0x100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF));
}

// A NOR part ignores program, erase and status writes unless WREN came first (and clears WEL
// after each); code that forgets it must see its write do nothing, as on silicon.
TEST(VchipFlash, ProgramEraseAndStatusWritesNeedWriteEnable) {
    auto flash = vchip::SpiFlash::open({1u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(flash));
    auto &f = **flash;
    std::vector<uint8_t> zeros(4, 0x00), out(4);
    f.transact(0x02, 0x100, 24, zeros, 0); // PP without WREN
    f.read(0x100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF)) << "programmed without WREN";
    f.transact(0x06, std::nullopt, 0, {}, 0);
    f.transact(0x02, 0x100, 24, zeros, 0);
    f.read(0x100, out);
    EXPECT_EQ(out, zeros) << "WREN then PP did not program";
    f.transact(0x20, 0x000, 24, {}, 0); // SE: WEL was cleared by the program
    f.read(0x100, out);
    EXPECT_EQ(out, zeros) << "erased without WREN";
    f.transact(0x06, std::nullopt, 0, {}, 0);
    f.transact(0x20, 0x000, 24, {}, 0);
    f.read(0x100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF)) << "WREN then SE did not erase";
    uint8_t protect[1] = {0x1C};
    f.transact(0x01, std::nullopt, 0, protect, 0); // WRSR without WREN
    EXPECT_EQ(f.statusRegister(0), 0x00) << "status written without WREN";
    f.transact(0x06, std::nullopt, 0, {}, 0);
    f.transact(0xC7, std::nullopt, 0, {}, 0); // CE after WREN: allowed
    f.transact(0x02, 0x200, 24, zeros, 0);    // and WEL is gone again
    f.read(0x200, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF)) << "WEL survived a chip erase";
}

TEST(VchipFlash, BlockProtectionRefusesEraseAndProgram) {
    auto flash = vchip::SpiFlash::open({1u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(flash));
    auto &f = **flash;
    f.transact(0x06, std::nullopt, 0, {}, 0);
    uint8_t all[1] = {0x1C}; // BP2..BP0 = 111: everything
    f.transact(0x01, std::nullopt, 0, all, 0);
    EXPECT_EQ(f.statusRegister(0), 0x1C);
    std::vector<uint8_t> data(4, 0);
    EXPECT_EQ(f.programPage(0, data), vchip::SpiFlash::Result::Protected);
    EXPECT_EQ(f.eraseSector(0x8000), vchip::SpiFlash::Result::Protected);
    f.powerCycle();
    EXPECT_EQ(f.statusRegister(0), 0x1C) << "written after WREN: non-volatile";
    f.transact(0x50, std::nullopt, 0, {}, 0);
    uint8_t none[1] = {0x00};
    f.transact(0x01, std::nullopt, 0, none, 0);
    EXPECT_EQ(f.programPage(0, data), vchip::SpiFlash::Result::Ok);
    f.powerCycle();
    EXPECT_EQ(f.statusRegister(0), 0x1C) << "written after WEVSR: lost at power-off";
}

#include "null_bus.h"

#include "riscv_cpu.h"
#include <map>

namespace {
// Little-endian RV32I words: a0 = 'H'; t0 = 0x40000000; call 0x68(t0) (uart_tx_one_char);
// a0 = 'i'; call again; spin.
std::vector<uint8_t> helloProgram(uint32_t call_offset) {
    std::vector<uint32_t> words = {0x04800513,
                                   0x400002B7,
                                   0x000280E7 | (call_offset << 20),
                                   0x06900513,
                                   0x000280E7 | (call_offset << 20),
                                   0x0000006F};
    std::vector<uint8_t> bytes;
    for (uint32_t w : words)
        for (int i = 0; i < 4; ++i) bytes.push_back(uint8_t(w >> (8 * i)));
    return bytes;
}
} // namespace

namespace {
// A bus that records what the code sends and hands it queued input through UART0's FIFO
// (0x60000000) and STATUS (+0x1C) registers, as the ESP32-C3 has them.
struct TestBus final : vchip::testing::NullBus {
    std::string sent, input;
    bool polled_empty = false;
    void uartSend(uint8_t byte) override { sent.push_back(char(byte)); }
    uint32_t readRegister(uint32_t address) override {
        if (address == 0x6000001C) {
            polled_empty = input.empty();
            return uint32_t(input.size());
        }
        if (address == 0x60000000 && !input.empty()) {
            uint8_t byte = uint8_t(input.front());
            input.erase(0, 1);
            return byte;
        }
        return 0;
    }
    std::map<uint32_t, uint32_t> written;
    void writeRegister(uint32_t address, uint32_t value) override {
        if (address == 0x60000000) sent.push_back(char(value));
        written[address] = value;
    }
    bool idle() override { return std::exchange(polled_empty, false); }
};

llvm::Expected<std::unique_ptr<vchip::RiscVCore>>
makeCore(const char *chip, std::vector<vchip::LoadedSegment> segments, TestBus &bus) {
    const uint32_t peripherals[] = {0x60000000};
    return vchip::RiscVCore::create(*chipdb::findChip(chip), segments, segments.front().address,
                                    peripherals, bus);
}
} // namespace

TEST(VchipCpu, RunsRiscVCodeWhoseRomCallsReachTheUart) {
    TestBus bus;
    auto core = makeCore("esp32c3", {{0x403A0000, helloProgram(0x68)}}, bus);
    ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
    auto stop = (*core)->run(std::chrono::milliseconds(50));
    ASSERT_TRUE(bool(stop)) << llvm::toString(stop.takeError());
    // It ends in `j .`: a loop that changes nothing waits for an interrupt, and none can come.
    EXPECT_EQ(*stop, vchip::RiscVCore::Stop::Idle);
    EXPECT_EQ(bus.sent, "Hi");
}

TEST(VchipCpu, CodeThatPollsTheUartStopsWhenIdleAndResumesWithInput) {
    // lui t0,0x60000; 1: lw t1,0x1c(t0); andi t1,t1,0x3ff; beqz t1,1b; lw a0,0(t0); sw a0,0(t0);
    // j 1b  -- an echo loop over UART0's registers.
    std::vector<uint8_t> echo;
    for (uint32_t word : {0x600002B7u, 0x01C2A303u, 0x3FF37313u, 0xFE030CE3u, 0x0002A503u,
                          0x00A2A023u, 0xFEDFF06Fu})
        for (int i = 0; i < 4; ++i) echo.push_back(uint8_t(word >> (8 * i)));
    TestBus bus;
    auto core = makeCore("esp32c3", {{0x403A0000, echo}}, bus);
    ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
    auto stop = (*core)->run(std::chrono::milliseconds(1000));
    ASSERT_TRUE(bool(stop)) << llvm::toString(stop.takeError());
    EXPECT_EQ(*stop, vchip::RiscVCore::Stop::Idle);
    bus.input = "ping";
    stop = (*core)->run(std::chrono::milliseconds(1000));
    ASSERT_TRUE(bool(stop)) << llvm::toString(stop.takeError());
    EXPECT_EQ(*stop, vchip::RiscVCore::Stop::Idle);
    EXPECT_EQ(bus.sent, "ping");
}

TEST(VchipCpu, AnIllegalInstructionTrapsToTheCodesHandler) {
    // As on silicon (RISC-V privileged spec), an illegal instruction jumps to mtvec with MEPC at
    // the instruction and MCAUSE 2: ESP-IDF's panic handler is such a handler.
    //   0x00: auipc t0,0; addi t0,t0,0x20; csrw mtvec,t0; .word 0 (illegal); j .; 3 x nop
    //   0x20: csrr a0,mepc; csrr a1,mcause; lui t1,0x60000; sw a0,4(t1); sw a1,8(t1); j .
    std::vector<uint8_t> code;
    for (uint32_t word : {0x00000297u, 0x02028293u, 0x30529073u, 0x00000000u, 0x0000006Fu,
                          0x00000013u, 0x00000013u, 0x00000013u, 0x34102573u, 0x342025F3u,
                          0x60000337u, 0x00A32223u, 0x00B32423u, 0x0000006Fu})
        for (int i = 0; i < 4; ++i) code.push_back(uint8_t(word >> (8 * i)));
    TestBus bus;
    auto core = makeCore("esp32c3", {{0x403A0000, code}}, bus);
    ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
    auto stop = (*core)->run(std::chrono::milliseconds(200));
    ASSERT_TRUE(bool(stop)) << llvm::toString(stop.takeError());
    EXPECT_EQ(bus.written[0x60000004], 0x403A000Cu) << "MEPC: the illegal instruction";
    EXPECT_EQ(bus.written[0x60000008], 2u) << "MCAUSE: illegal instruction";

    // With no handler of the code's (mtvec still 0), it is a fault that names the instruction.
    std::vector<uint8_t> bare(code.begin() + 12, code.begin() + 20);
    core = makeCore("esp32c3", {{0x403A0000, bare}}, bus);
    ASSERT_TRUE(bool(core));
    stop = (*core)->run(std::chrono::milliseconds(200));
    ASSERT_FALSE(bool(stop));
    std::string message = llvm::toString(stop.takeError());
    EXPECT_NE(message.find("pc 0x403a0000"), std::string::npos) << message;
    EXPECT_NE(message.find("illegal instruction"), std::string::npos) << message;
}

TEST(VchipCpu, SaysPlainlyWhatItCannotRun) {
    TestBus bus;
    auto core = makeCore("esp32c3", {{0x403A0000, helloProgram(0x78)}}, bus); // not served
    ASSERT_TRUE(bool(core));
    auto stop = (*core)->run(std::chrono::milliseconds(50));
    ASSERT_FALSE(bool(stop));
    EXPECT_NE(llvm::toString(stop.takeError()).find("0x40000078"), std::string::npos);
    core = makeCore("esp32", {{0x403A0000, helloProgram(0x68)}}, bus);
    ASSERT_FALSE(bool(core));
    EXPECT_NE(llvm::toString(core.takeError()).find("Xtensa"), std::string::npos);
    core = makeCore("esp32c3", {{0x50000000 + 0x100000, helloProgram(0x68)}}, bus);
    ASSERT_FALSE(bool(core));
    EXPECT_NE(llvm::toString(core.takeError()).find("outside the chip's RAM"), std::string::npos);
}

TEST(VchipRom, Esp8266FlashBeginErasesWhatItsRomErases) {
    // The ESP8266 ROM counts the sectors before the next 64 KiB block twice (protocol.md §8.2):
    // asking for 8 sectors at 0 erases 16; 19 sectors at 0x3000 erases 19 + 13.
    struct Case {
        uint32_t offset, erase_size, erased_end;
    };
    for (Case c : {Case{0x0, 0x8000, 0x10000}, Case{0x3000, 0x13000, 0x23000}}) {
        llvm::SmallString<128> dir;
        ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-vchip", dir));
        std::string file = (dir + "/flash.bin").str();
        {
            std::vector<char> zeros(1 << 20, 0);
            std::FILE *f = std::fopen(file.c_str(), "wb");
            ASSERT_NE(f, nullptr);
            std::fwrite(zeros.data(), 1, zeros.size(), f);
            std::fclose(f);
        }
        {
            Client client("esp8266?size=1MB&flash=" + file);
            auto frames = client.send(request(0x02, words({c.erase_size, 0, 0x400, c.offset})));
            ASSERT_EQ(frames.size(), 1u);
            EXPECT_EQ(frames[0][8], 0);
        }
        auto contents = llvm::MemoryBuffer::getFile(file);
        ASSERT_TRUE(bool(contents));
        auto bytes = (*contents)->getBuffer();
        size_t first_erased = bytes.find_first_not_of('\0');
        size_t last_erased = bytes.find_last_not_of('\0');
        EXPECT_EQ(first_erased, c.offset);
        EXPECT_EQ(last_erased + 1, c.erased_end) << std::hex << c.offset;
        llvm::sys::fs::remove_directories(dir);
    }
}

TEST(VchipFaults, AStallDelaysTheAnswerThenTheChipGoesOn) {
    Client client("esp32c3?stall_ms=300&stall_after=0");
    auto start = std::chrono::steady_clock::now();
    auto frames = client.send(request(0x08, syncPayload()));
    EXPECT_TRUE(frames.empty()) << "a stalled chip answers nothing at once";
    uint8_t buffer[512];
    size_t n = client.chip->read(buffer, std::chrono::milliseconds(1000));
    EXPECT_GT(n, 0u);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(290));
    client.drain();
    EXPECT_EQ(client.send(request(0x08, syncPayload())).size(), 8u) << "and answers at once after";
}
