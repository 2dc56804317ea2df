// What real boards show and a plain UART bridge with a 4 MB flash does not: download mode on UART0
// or on the chip's own USB-Serial-JTAG, the ROM's record of which, the reset lines each reads, the
// RTC watchdog a USB reset leaves running, and flash past 16 MB.
#include "rom_client.h"

#include "esptools/chipdb/chip.h"
#include "spi_flash.h"

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>

#include <cmath>
#include <thread>

using namespace rom_client;

namespace {

constexpr auto npos = std::string::npos;

std::string readAll(vchip::VirtualChip &chip, std::chrono::milliseconds wait) {
    std::string text;
    uint8_t buffer[512];
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until)
        if (size_t n = chip.read(buffer, std::chrono::milliseconds(10)))
            text.append(reinterpret_cast<char *>(buffer), n);
    return text;
}

// What arrives until `needle` has (or `wait` passes): a loaded host may emulate slower than real
// time, so tests wait for what they expect rather than for a fixed time.
std::string readUntil(vchip::VirtualChip &chip, const std::string &needle,
                      std::chrono::milliseconds wait) {
    std::string text;
    uint8_t buffer[512];
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until && text.find(needle) == std::string::npos)
        if (size_t n = chip.read(buffer, std::chrono::milliseconds(10)))
            text.append(reinterpret_cast<char *>(buffer), n);
    return text;
}

// MEM_BEGIN, MEM_DATA and MEM_END of one block: the ROM runs the code at `address`.
void runCode(Client &client, uint32_t address, const std::vector<uint8_t> &code) {
    uint8_t checksum = 0xEF;
    for (uint8_t byte : code) checksum ^= byte;
    client.send(request(0x05, words({uint32_t(code.size()), 1, uint32_t(code.size()), address})));
    auto data = words({uint32_t(code.size()), 0, 0, 0});
    data.insert(data.end(), code.begin(), code.end());
    client.send(request(0x07, data, checksum));
    client.chip->write(request(0x06, words({0, address})));
}

std::vector<uint8_t> program(std::initializer_list<uint32_t> instructions) {
    std::vector<uint8_t> bytes;
    for (uint32_t word : instructions)
        for (int i = 0; i < 4; ++i) bytes.push_back(uint8_t(word >> (8 * i)));
    return bytes;
}

size_t syncReplies(Client &client) {
    return client.send(request(0x08, syncPayload())).size();
}

} // namespace

TEST(VchipConsole, CodeReachesTheHostOnlyThroughThePortTheRomTalksOn) {
    // ESP32-C3: 'U' into UART0's FIFO (0x60000000), 'J' into USB-Serial-JTAG's EP1 (0x60043000)
    // and WR_DONE into EP1_CONF, then a loop polling UART0's status.
    auto code = program({
        0x600002B7, // lui  t0, 0x60000
        0x05500313, // li   t1, 'U'
        0x0062A023, // sw   t1, 0(t0)
        0x600432B7, // lui  t0, 0x60043
        0x04A00313, // li   t1, 'J'
        0x0062A023, // sw   t1, 0(t0)
        0x00100313, // li   t1, 1
        0x0062A223, // sw   t1, 4(t0)
        0x600002B7, // lui  t0, 0x60000
        0x01C2A383, // 1: lw t2, 0x1c(t0)
        0xFFDFF06F, // j    1b
    });
    for (auto [console, heard, lost] : {std::tuple{"uart", 'U', 'J'}, {"usb", 'J', 'U'}}) {
        Client client(std::string("esp32c3?console=") + console);
        runCode(client, 0x40380000, code);
        std::string output = readAll(*client.chip, std::chrono::milliseconds(100));
        EXPECT_NE(output.find(heard), npos) << console;
        EXPECT_EQ(output.find(lost), npos) << console;
    }
}

// A stub speaks first: after the ROM's delay, its greeting leaves with no further word from the
// host (a delay is not waiting for input).
TEST(VchipConsole, CodeThatSpeaksAfterADelayIsHeardWithoutTheHostWriting) {
    // ESP32-C3: ets_delay_us(10000) (0x40000050), uart_tx_one_char('!') (0x40000068), then `j .`.
    auto code = program({0x00002537, 0x71050513, 0x400002B7, 0x050280E7, 0x02100513, 0x400002B7,
                         0x068280E7, 0x0000006F});
    Client client("esp32c3");
    runCode(client, 0x40380000, code);
    std::string output = readUntil(*client.chip, "!", std::chrono::seconds(5));
    EXPECT_NE(output.find('!'), npos) << output;
}

// As Espressif's flasher stubs take their input: a handler attached to the ROM's UART0 line
// (ets_isr_attach(5, ...), ets_isr_unmask(1 << 5)) while the main code spins on memory.
TEST(VchipConsole, InputReachesTheInterruptHandlerTheCodeAttached) {
    // ESP32-C3. Main: attach `handler` to line 5 (0x40000604), unmask it (0x4000060C), `j .`.
    // handler: n = UART0 STATUS & 0x3ff; echo n bytes FIFO to FIFO; INT_CLR = ~0; ret.
    auto code = program({0x00500513, 0x00000597, 0x02458593, 0x00000613, 0x400002B7, 0x604280E7,
                         0x02000513, 0x400002B7, 0x60C280E7, 0x0000006F, 0x600002B7, 0x01C2A303,
                         0x3FF37313, 0x00030A63, 0x0002A503, 0x00A2A023, 0xFFF30313, 0xFF1FF06F,
                         0xFFF00393, 0x0072A823, 0x00008067});
    // In real time too: 600 bytes at 115200 reach the 128-byte FIFO faster than nothing drains it.
    std::string long_line;
    for (int i = 0; i < 600; ++i) long_line += char('a' + i % 26);
    for (const char *spec : {"esp32c3", "esp32c3?timing=1"}) {
        Client client(spec);
        runCode(client, 0x40380000, code);
        readAll(*client.chip, std::chrono::milliseconds(20));
        for (const std::string &word : {std::string("ping"), std::string("pong"), long_line}) {
            client.chip->write(std::vector<uint8_t>(word.begin(), word.end()));
            std::string output = readUntil(*client.chip, word, std::chrono::seconds(5));
            EXPECT_NE(output.find(word), npos)
                << spec << ": sent " << word.size() << " bytes, heard " << output.size();
        }
    }
}

// How long the code takes from MEM_END until its '!' reaches the host: on the timed chip, the
// time silicon would take; on the untimed one, only what emulating it costs this host.
static std::chrono::milliseconds timeToExclamation(const std::vector<uint8_t> &code,
                                                   bool timed = true) {
    Client client(timed ? "esp32c3?timing=1" : "esp32c3");
    client.send(request(0x0D, words({0, 0}))); // SPI_ATTACH: the flash answers the code
    auto start = std::chrono::steady_clock::now();
    runCode(client, 0x40380000, code);
    std::string output = readUntil(*client.chip, "!", std::chrono::seconds(10));
    EXPECT_NE(output.find('!'), npos);
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
}

// The timed chip cannot run code faster than this host emulates it. Where emulating a run costs
// more than `share` of the time it models (a sanitizer build on a loaded machine), real time
// cannot show the difference a test looks for, and the test says so instead of guessing.
#define SKIP_WHERE_EMULATION_IS_TOO_SLOW(code, modelled_ms, share)                                 \
    do {                                                                                           \
        auto cost = timeToExclamation(code, false);                                                \
        if (cost.count() > (modelled_ms) * (share))                                                \
            GTEST_SKIP() << "this host takes " << cost.count() << " ms to emulate a run that "     \
                         << "silicon takes " << (modelled_ms) << " ms in: too slow to time it";    \
    } while (0)

// The timed chip charges code one cycle per instruction at the clock it runs from: the ROM's
// 40 MHz crystal, or the 160 MHz PLL clock that a stub selects as esp-stub-lib's does (the C3's
// SYSTEM_SYSCLK_CONF.SOC_CLK_SEL and SYSTEM_CPU_PER_CONF), four times as fast.
TEST(VchipTiming, CodeRunsAtTheClockItSelected) {
    // Long straight runs of instructions: the emulator's per-block work stays small beside the
    // time they stand for, even under a sanitizer.
    auto counting = [](bool select_pll) {
        constexpr uint32_t kNop = 0x00000013;
        std::vector<uint32_t> words = {
            0x600C02B7,                     // lui  t0, 0x600C0
            0x40000313,                     // li   t1, 0x400 (SOC_CLK_SEL = 1)
            select_pll ? 0x0462AC23 : kNop, // sw   t1, 0x58(t0)
            0x00500313,                     // li   t1, 5 (PLL_FREQ_SEL = 1, CPUPERIOD_SEL = 1)
            select_pll ? 0x0062A423 : kNop, // sw   t1, 8(t0)
            0x000403B7,                     // lui  t2, 0x40: 256K turns of 64 instructions
        };
        words.insert(words.end(), 62, 0x00130313); // 1: addi t1, t1, 1 (62 times)
        words.insert(words.end(), {
                                      0xFFF38393, // addi t2, t2, -1
                                      0xF00392E3, // bnez t2, 1b
                                      0x600002B7, // lui  t0, 0x60000
                                      0x02100313, // li   t1, '!'
                                      0x0062A023, // sw   t1, 0(t0): UART0's FIFO
                                      0x01C2AE03, // 2: lw t3, 0x1c(t0)
                                      0xFFDFF06F, // j    2b
                                  });
        std::vector<uint8_t> bytes;
        for (uint32_t word : words)
            for (int i = 0; i < 4; ++i) bytes.push_back(uint8_t(word >> (8 * i)));
        return bytes;
    };
    SKIP_WHERE_EMULATION_IS_TOO_SLOW(counting(true), 105, 0.5);
    auto on_crystal = timeToExclamation(counting(false));
    auto on_pll = timeToExclamation(counting(true));
    // 16.8M cycles: 420 ms at 40 MHz, 105 ms at 160 MHz (emulation on a loaded host may stretch
    // the fast run, never shorten the slow one).
    EXPECT_GE(on_crystal.count(), 400);
    EXPECT_LT(on_pll.count() * 2, on_crystal.count());
}

// Likewise the flash's bus: SPI1's SPI_MEM_CLOCK_REG divides the 80 MHz MSPI clock; the ROM
// leaves it at 20 MHz, and code may set 40 MHz (0x00010001), which halves a read's time.
TEST(VchipTiming, FlashReadsTakeTheBusClockTheCodeSet) {
    auto reading = [](bool at_40_mhz) {
        return program({
            0x600022B7, // lui  t0, 0x60002 (SPI1)
            0x00010337,
            0x00130313,                            // li   t1, 0x00010001
            at_40_mhz ? 0x0062AA23u : 0x00000013u, // sw   t1, 0x14(t0): SPI_MEM_CLOCK_REG
            0x90000337,
            0x0062AC23, // USER: command and MISO phases, and an address
            0x01700313,
            0x01A31313,
            0x0062AE23, // USER1: a 24-bit address
            0x70000337,
            0x00330313,
            0x0262A023, // USER2: READ (03h)
            0x1FF00313,
            0x0262A423, // MISO_DLEN: 512 bits
            0x000023B7,
            0xF4038393, // li   t2, 8000
            0x00040EB7, // lui  t4, 0x40 (SPI_MEM_USR)
            0x01D2A023, // 1: sw t4, 0(t0)
            0x0002AE03,
            0xFE0E1EE3, // 2: lw t3, 0(t0); bnez t3, 2b
            0xFFF38393,
            0xFE0398E3, // addi t2, t2, -1; bnez t2, 1b
            0x600002B7,
            0x02100313,
            0x0062A023, // '!' into UART0's FIFO
            0x01C2AE03,
            0xFFDFF06F, // 3: lw t3, 0x1c(t0); j 3b
        });
    };
    // 8000 reads of 544 bits: 218 ms at 20 MHz, 109 ms at 40 MHz.
    SKIP_WHERE_EMULATION_IS_TOO_SLOW(reading(true), 109, 0.5);
    auto at_20 = timeToExclamation(reading(false));
    auto at_40 = timeToExclamation(reading(true));
    EXPECT_GE(at_20.count(), 210);
    EXPECT_LT(at_40.count() * 10, at_20.count() * 7);
}

TEST(VchipConsole, TheRomsInterruptHandlerTakesInputUntilCodeMasksIt) {
    // ESP32-C3: an echo loop over UART0's STATUS (+0x1C) and FIFO registers, with and without
    // first clearing UART_INT_ENA (+0x0C), which the ROM loader leaves on.
    auto echo = [](bool mask) {
        std::vector<uint32_t> words = {0x600002B7}; // lui t0, 0x60000
        if (mask) words.push_back(0x0002A623);      // sw  zero, 0xc(t0)
        for (uint32_t word : {0x01C2A303u,          // 1: lw t1, 0x1c(t0)
                              0x3FF37313u,          // andi t1, t1, 0x3ff
                              0xFE030CE3u,          // beqz t1, 1b
                              0x0002A503u,          // lw a0, 0(t0)
                              0x00A2A023u,          // sw a0, 0(t0)
                              0xFEDFF06Fu})         // j 1b
            words.push_back(word);
        std::vector<uint8_t> bytes;
        for (uint32_t word : words)
            for (int i = 0; i < 4; ++i) bytes.push_back(uint8_t(word >> (8 * i)));
        return bytes;
    };
    for (bool mask : {false, true}) {
        Client client("esp32c3");
        runCode(client, 0x40380000, echo(mask));
        readAll(*client.chip, std::chrono::milliseconds(20));
        const std::string ping = "ping";
        client.chip->write(std::vector<uint8_t>(ping.begin(), ping.end()));
        std::string output = readAll(*client.chip, std::chrono::milliseconds(100));
        EXPECT_EQ(output.find("ping") != npos, mask) << output;
    }
}

TEST(VchipConsole, TheRomRecordsItsConsoleWhereEsptoolReadsIt) {
    struct Case {
        const char *chip;
        uint32_t revision, address, usb_value;
    };
    // esptool v5.2 targets/*.py, UARTDEV_BUF_NO and UARTDEV_BUF_NO_USB_JTAG_SERIAL.
    for (auto [chip, revision, address, usb_value] :
         {Case{"esp32c3", 0, 0x3FCDF064 + 24, 3}, Case{"esp32c3", 101, 0x3FCDF060 + 24, 3},
          Case{"esp32c6", 0, 0x4087F580, 3}, Case{"esp32c61", 2, 0x4084F5EC, 3},
          Case{"esp32c61", 3, 0x4084F5E4, 4}, Case{"esp32h2", 0, 0x4084FEFC, 3},
          Case{"esp32p4", 300, 0x4FFBFEB0 + 24, 6}, Case{"esp32s3", 0, 0x3FCEF14C, 4}}) {
        const std::string spec = std::string(chip) + "?rev=" + std::to_string(revision);
        EXPECT_EQ(Client(spec + "&console=usb").readReg(address) & 0xFF, usb_value) << spec;
        EXPECT_EQ(Client(spec + "&console=uart").readReg(address) & 0xFF, 0u) << spec;
    }
}

TEST(VchipConsole, AUsbConsoleHasNoBaudRate) {
    for (auto [console, replies] : {std::pair{"uart", 0u}, {"usb", 8u}}) {
        Client client(std::string("esp32c3?console=") + console);
        client.chip->setBaudRate(115200);
        ASSERT_EQ(client.send(request(0x0F, words({921600, 0}))).size(), 1u) << console;
        // The host stays at 115200: a UART now runs at another rate, USB does not care.
        EXPECT_EQ(syncReplies(client), replies) << console;
    }
}

// The ESP32's ROM derives a new divider from its own estimate of the crystal, which drifts from
// the 40 MHz the board has: the rate asked for is not the rate the line gets, unless corrected by
// that estimate (esptool targets/esp32.py, get_rom_cal_crystal_freq).
TEST(VchipConsole, TheEsp32RomSetsItsBaudFromItsOwnCrystalEstimate) {
    const auto &chip = *chipdb::findChip("esp32");
    Client probe("esp32");
    const uint32_t calibration =
        chip.rom_crystal_calibration.extract(probe.readReg(chip.rom_crystal_calibration.address));
    const uint32_t ck8m =
        chip.rom_ck8m_frequency.extract(probe.readReg(chip.rom_ck8m_frequency.address));
    const double estimate = double(calibration) * 15625 * ck8m / 40;
    ASSERT_GT(estimate, 33e6) << "a 40 MHz board";
    EXPECT_GT(std::abs(estimate - 40e6), 40e6 * 0.03) << "a drift worth correcting";
    const uint32_t corrected = uint32_t(921600 * estimate / 40e6);
    for (auto [asked, replies] : {std::pair{921600u, 0u}, {corrected, 8u}}) {
        Client client("esp32");
        ASSERT_EQ(client.send(request(0x0F, words({asked, 0}))).size(), 1u);
        client.chip->setBaudRate(921600);
        EXPECT_EQ(syncReplies(client), replies) << "asked for " << asked;
    }
    Client zero("esp32");
    auto refused = zero.send(request(0x0F, words({0, 0})));
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0][8], 1) << "a baud of 0 is refused";
    zero.chip->setBaudRate(115200);
    EXPECT_EQ(syncReplies(zero), 8u) << "and the chip goes on at its rate";
}

TEST(VchipConsole, UsbSerialJtagTakesItsOwnResetSequence) {
    auto classic = [](vchip::VirtualChip &chip) {
        chip.setDtr(false), chip.setRts(true); // EN low
        chip.setDtr(true), chip.setRts(false); // GPIO0 low, EN high
        chip.setDtr(false);
    };
    auto usb = [](vchip::VirtualChip &chip) { // esptool reset.py, USBJTAGSerialReset
        chip.setRts(false), chip.setDtr(false);
        chip.setDtr(true), chip.setRts(false);
        chip.setRts(true), chip.setDtr(false), chip.setRts(true);
        chip.setDtr(false), chip.setRts(false);
    };
    for (auto [console, sequence, download] :
         {std::tuple{"uart", +classic, true}, {"usb", +classic, false}, {"usb", +usb, true}}) {
        Client client(std::string("esp32c3?console=") + console);
        sequence(*client.chip);
        std::string output = readAll(*client.chip, std::chrono::milliseconds(50));
        EXPECT_EQ(output.find("waiting for download") != npos, download) << console << output;
        EXPECT_EQ(output.find("SPI_FAST_FLASH_BOOT") != npos, !download) << console << output;
    }
}

TEST(VchipConsole, TheAppsRtcWatchdogSurvivesAUsbResetUntilUnlockedAndStopped) {
    const auto &watchdogs = chipdb::findChip("esp32c3")->watchdogs;
    auto write = [](Client &client, uint32_t address, uint32_t value) {
        client.send(request(0x09, words({address, value, 0xFFFFFFFF, 0})));
    };
    Client left_running("esp32c3?console=usb&app_wdt_ms=100");
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(syncReplies(left_running), 0u) << "the watchdog rebooted it into the flash";

    Client locked("esp32c3?console=usb&app_wdt_ms=150");
    write(locked, watchdogs.rwdt_config0, 0); // without the key: ignored
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(syncReplies(locked), 0u);

    Client stopped("esp32c3?console=usb&app_wdt_ms=150");
    write(stopped, watchdogs.rwdt_write_protect, watchdogs.rwdt_key);
    write(stopped, watchdogs.rwdt_config0, 0);
    write(stopped, watchdogs.rwdt_write_protect, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(syncReplies(stopped), 8u);

    // On a UART board the EN reset stops the watchdog: the option has nothing to model.
    Client uart("esp32c3?console=uart&app_wdt_ms=50");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(syncReplies(uart), 8u);
}

TEST(VchipConsole, OverUsbOtgTheRomLosesFramesLongerThanItsBuffer) {
    for (auto [block, answered] : {std::pair{0x800u, 1u}, {0x1800u, 0u}}) {
        Client client("esp32s3?console=otg");
        EXPECT_EQ(client.readReg(0x3FCEF14C) & 0xFF, 3u) << "the ROM records USB-OTG";
        ASSERT_EQ(client.send(request(0x05, words({block, 1, block, 0x3FC90000}))).size(), 1u);
        auto data = words({block, 0, 0, 0});
        data.resize(data.size() + block, 0);
        EXPECT_EQ(client.send(request(0x07, data, 0xEF)).size(), answered) << block;
    }
}

TEST(VchipConsole, AChipWithoutUsbSerialJtagRefusesAUsbConsole) {
    for (const char *chip : {"esp32", "esp32s2", "esp32c2"}) {
        auto options = vchip::parsePortSpec(std::string(chip) + "?console=usb");
        ASSERT_TRUE(bool(options));
        auto created = vchip::VirtualChip::create(*options);
        ASSERT_FALSE(bool(created)) << chip;
        EXPECT_NE(llvm::toString(created.takeError()).find("no USB-Serial-JTAG console"), npos);
    }
    EXPECT_FALSE(bool(vchip::parsePortSpec("esp32c3?console=jtag")))
        << "an unknown console is an error, not UART";
}

// Parts above 16 MB (W25Q256JV, GD25Q256D datasheets): the 3-byte commands reach the first 16 MB
// only, the 4-byte ones (or 4-byte mode) the rest; 16 MB parts have neither.
TEST(VchipFlash, PastSixteenMegabytesOnlyFourByteAddressesReach) {
    auto opened = vchip::SpiFlash::open({32u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(opened));
    auto &flash = **opened;
    EXPECT_EQ(flash.jedecId(), 0x1940C8u) << "GD25Q256D";
    const std::vector<uint8_t> data = {1, 2, 3, 4};
    std::vector<uint8_t> out(4);
    auto program = [&](uint8_t command, uint32_t address, unsigned bits) {
        flash.transact(0x06, std::nullopt, 0, {}, 0);
        flash.transact(command, address, bits, data, 0);
    };
    program(0x02, 0x100, 24); // the controller sends 24 of 0x1000100's bits: 0x000100
    flash.read(0x100, out);
    EXPECT_EQ(out, data);
    program(0x12, 0x1000100, 32);
    flash.read(0x1000100, out);
    EXPECT_EQ(out, data);
    EXPECT_EQ(flash.transact(0x13, 0x1000100, 32, {}, 4), data);
    EXPECT_EQ(flash.transact(0x03, 0x100, 24, {}, 4), data);
    flash.transact(0xB7, std::nullopt, 0, {}, 0); // 4-byte mode: 03h takes 32 bits
    EXPECT_EQ(flash.transact(0x03, 0x1000100, 32, {}, 4), data);
    flash.transact(0xE9, std::nullopt, 0, {}, 0);
    flash.transact(0x06, std::nullopt, 0, {}, 0);
    flash.transact(0x21, 0x1000000, 32, {}, 0); // sector erase, 4-byte address
    flash.read(0x1000100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF));
    flash.read(0x100, out);
    EXPECT_EQ(out, data) << "the erase stays past 16 MB";

    auto small = vchip::SpiFlash::open({16u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(small));
    (*small)->transact(0x06, std::nullopt, 0, {}, 0);
    (*small)->transact(0x12, 0x100, 32, data, 0);
    (*small)->read(0x100, out);
    EXPECT_EQ(out, std::vector<uint8_t>(4, 0xFF)) << "a 16 MB part has no 12h";

    for (auto [size, id] : {std::pair{64u << 20, 0x2040EFu}, {128u << 20, 0x2140EFu}}) {
        auto part = vchip::SpiFlash::open({size, 0, "", std::nullopt});
        ASSERT_TRUE(bool(part));
        EXPECT_EQ((*part)->jedecId(), id) << "W25Q512JV / W25Q01JV";
    }
}

// The ROMs' flash routines send 24-bit addresses: a download past 16 MB lands 16 MB lower, on the
// bootloader, which is why esp-loader refuses it in ROM mode.
TEST(VchipFlash, TheRomWrapsPastSixteenMegabytes) {
    llvm::SmallString<128> file;
    ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("vchip-32mb", "bin", file));
    llvm::sys::fs::remove(file);
    {
        Client client("esp32c3?size=32MB&flash=" + std::string(file));
        std::vector<uint8_t> block(0x400, 0x5A);
        uint8_t checksum = 0xEF;
        for (uint8_t byte : block) checksum ^= byte;
        auto begin = client.send(request(0x02, words({0x400, 1, 0x400, 0x1000000, 0})));
        ASSERT_EQ(begin.size(), 1u);
        auto data = words({0x400, 0, 0, 0});
        data.insert(data.end(), block.begin(), block.end());
        auto written = client.send(request(0x03, data, checksum));
        ASSERT_EQ(written.size(), 1u);
        EXPECT_EQ(written[0][8], 0) << "the ROM reports success";
    }
    auto contents = llvm::MemoryBuffer::getFile(file);
    ASSERT_TRUE(bool(contents));
    const auto *bytes = reinterpret_cast<const uint8_t *>((*contents)->getBufferStart());
    EXPECT_EQ(bytes[0], 0x5A) << "it landed at 0x0";
    EXPECT_EQ(bytes[0x1000000], 0xFF);
    llvm::sys::fs::remove(file);
    llvm::sys::fs::remove(file + ".status");
}

// A read's data phase is the command's own: READ on one line at once, FAST_READ after 8 dummy
// cycles, DUAL OUTPUT READ on two lines after 8 (W25Q32JV and GD25Q32C datasheets). Read with
// another phase, the controller samples bits that are not the data, as on silicon; and two lines
// move the data in half the bus time.
TEST(VchipFlash, AReadReturnsItsDataOnlyWithThePhaseItsCommandExpects) {
    auto opened = vchip::SpiFlash::open({1u << 20, 0, "", std::nullopt});
    ASSERT_TRUE(bool(opened));
    auto &flash = **opened;
    const std::vector<uint8_t> data = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0};
    flash.transact(0x06, std::nullopt, 0, {}, 0);
    flash.transact(0x02, 0x2000, 24, data, 0);
    flash.takeTransferTime();
    using Phase = vchip::SpiDataPhase;
    EXPECT_EQ(flash.transact(0x03, 0x2000, 24, {}, 8), data);
    EXPECT_EQ(flash.transact(0x0B, 0x2000, 24, {}, 8, Phase{8, 1}), data);
    EXPECT_EQ(flash.transact(0x3B, 0x2000, 24, {}, 8, Phase{8, 2}), data);
    EXPECT_NE(flash.transact(0x3B, 0x2000, 24, {}, 8), data) << "one line, no dummy cycles";
    EXPECT_NE(flash.transact(0x3B, 0x2000, 24, {}, 8, Phase{8, 1}), data) << "one line";
    EXPECT_NE(flash.transact(0x03, 0x2000, 24, {}, 8, Phase{0, 2}), data) << "two lines";
    EXPECT_NE(flash.transact(0x0B, 0x2000, 24, {}, 8), data) << "no dummy cycles";
    flash.takeTransferTime();
    flash.transact(0x03, 0x2000, 24, {}, 64);
    auto one_line = flash.takeTransferTime();
    flash.transact(0x3B, 0x2000, 24, {}, 64, Phase{8, 2});
    auto two_lines = flash.takeTransferTime();
    EXPECT_EQ(one_line, std::chrono::nanoseconds(50 * (8 + 24 + 512))); // the ROM's 20 MHz
    EXPECT_EQ(two_lines, std::chrono::nanoseconds(50 * (8 + 24 + 8 + 256)));
}
