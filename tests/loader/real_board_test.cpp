// What real boards need that a plain UART bridge never shows: a ROM that talks over the chip's own
// USB-Serial-JTAG, watchdogs a USB reset leaves running, the RTC watchdog reset, and a stub that
// does not start.
#include "loader_fixture.h"

#include <map>
#include <regex>

namespace {

using namespace loader_e2e;

constexpr auto npos = std::string::npos;

std::string chipName(const testing::TestParamInfo<Target> &info) {
    return info.param.chip;
}
std::string chipAndLoader(const testing::TestParamInfo<Target> &info) {
    return std::string(info.param.chip) + (info.param.stub ? "_stub" : "_rom");
}

// Boards with no USB-UART bridge: download mode runs on USB-Serial-JTAG. The virtual chip's USB
// console drops what code writes to UART0, and an RTC watchdog the app left running (which a USB
// reset does not stop) reboots it a second after the reset unless the loader turns it off.
class UsbSerialJtagConsole : public LoaderE2E {};

TEST_P(UsbSerialJtagConsole, WritesAndReadsBackOneMegabyteThroughTheStub) {
    const std::string usb = port("&console=usb&app_wdt_ms=1000");
    auto data = randomFile("data.bin", 1 << 20, 77);
    LoaderRun run = loader({"--baud", "921600", "write-flash", "0x0", path("data.bin")}, usb);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("USB mode:           USB-Serial/JTAG"), npos) << run.out;
    EXPECT_NE(run.out.find("Stub flasher running."), npos) << run.out;
    EXPECT_EQ(run.out.find("Changing baud rate"), npos) << "USB-Serial-JTAG has no baud rate";
    EXPECT_NE(run.out.find("Hash of data verified."), npos) << run.out;
    run = loader({"read-flash", "0x0", "0x100000", path("back.bin")}, usb);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_TRUE(readText(path("back.bin")) == std::string(data.begin(), data.end()));
}

// A stub that never greets (a tight loop): the session goes on through the ROM, unless
// --stub-only asks for the stub or nothing.
TEST_P(UsbSerialJtagConsole, AStubThatDoesNotStartFallsBackToTheRom) {
    std::smatch text_start;
    const std::string ours = readText(std::string(ESPTOOLS_STUB_DIR) + "/" + chip() + ".json");
    ASSERT_TRUE(std::regex_search(ours, text_start, std::regex(R"("text_start": (\d+))")));
    const std::string dir = path("looping");
    ASSERT_FALSE(llvm::sys::fs::create_directory(dir));
    std::ofstream(dir + "/" + chip() + ".json")
        << "{\"entry\": " << text_start[1]
        << ", \"text\": \"bwAAAA==\", \"text_start\": " << text_start[1]
        << ", \"data\": \"\", \"data_start\": " << text_start[1] << "}\n";
    randomFile("data.bin", 64 << 10, 78);

    LoaderRun run;
    if (chip() == "esp32c3") { // the same on every chip, and each run waits out the greeting
        run = loader({"--stub-dir", dir, "--stub-only", "write-flash", "0x0", path("data.bin")});
        EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
        EXPECT_NE(run.err.find("Failed to start stub flasher"), npos) << run.err;
        EXPECT_EQ(run.out.find("Writing at"), npos) << "nothing may be written";
    }
    run = loader({"--stub-dir", dir, "write-flash", "0x0", path("data.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("WARNING: Failed to start stub flasher"), npos) << run.out;
    EXPECT_NE(run.out.find("go on with the ROM loader"), npos) << run.out;
    EXPECT_NE(run.out.find("Hash of data verified."), npos) << run.out;
    run = loader({"--no-stub", "verify-flash", "0x0", path("data.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

INSTANTIATE_TEST_SUITE_P(Stub, UsbSerialJtagConsole,
                         testing::Values(Target{"esp32c3", true}, Target{"esp32c6", true},
                                         Target{"esp32h2", true}, Target{"esp32p4", true}),
                         chipName);

// --after watchdog-reset resets through the RTC watchdog where esptool does, and says so where it
// takes the classic hard reset instead; `run` shows the reset reason the chip boots with. (Through
// the stub: the ROM would leave the loader at `run` before the reset.)
class WatchdogReset : public LoaderE2E {};

TEST_P(WatchdogReset, RebootsThroughTheRtcWatchdogWhereEsptoolDoes) {
    LoaderRun run = loader({"--after", "watchdog-reset", "run"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    if (esptools::chipdb::findChip(chip())->watchdogs.reset_supported) {
        EXPECT_NE(run.out.find("Hard resetting with a watchdog..."), npos) << run.out;
        EXPECT_NE(run.out.find("rst:0x10 (RTCWDT_RTC_RST)"), npos) << run.out;
    } else {
        EXPECT_NE(run.out.find("Watchdog hard reset is not supported on"), npos) << run.out;
        EXPECT_NE(run.out.find("rst:0x1 (POWERON)"), npos) << run.out;
    }
}

INSTANTIATE_TEST_SUITE_P(Chips, WatchdogReset,
                         testing::Values(Target{"esp32c3", true}, Target{"esp32c5", true},
                                         Target{"esp32c6", true}, Target{"esp32c61", true},
                                         Target{"esp32h2", true}, Target{"esp32p4", true}),
                         chipName);

// Flash past 16 MB, on a 32 MB part: written through 4-byte commands where the chip's controller
// sends them and the stub runs; refused, with nothing written, where 24-bit addresses would wrap
// onto the bootloader. Nothing but the four regions changes.
class LargeFlash : public LoaderE2E {};

TEST_P(LargeFlash, WritesOnBothSidesOfSixteenMegabytesAndNothingElse) {
    const std::string big = port("&size=32MB");
    const bool reaches = esptools::chipdb::findChip(chip())->flash_4byte_addresses && viaStub();
    const uint32_t offsets[] = {0x0, 0xFFF000, 0x1000000, 0x1FFF000};
    std::map<uint32_t, std::vector<uint8_t>> expected;
    for (uint32_t offset : offsets) {
        const std::string name = "at" + std::to_string(offset) + ".bin";
        auto data = randomFile(name.c_str(), 0x1000, offset + 1);
        char address[16];
        std::snprintf(address, sizeof address, "0x%x", offset);
        LoaderRun run = loader({"write-flash", address, path(name.c_str())}, big);
        if (offset < 0x1000000 || reaches) {
            ASSERT_EQ(run.exit_code, 0) << address << run.out << run.err;
            EXPECT_NE(run.out.find("Hash of data verified."), npos) << run.out;
            expected[offset] = data;
            run = loader({"read-flash", address, "0x1000", path("back.bin")}, big);
            ASSERT_EQ(run.exit_code, 0) << address << run.out << run.err;
            EXPECT_TRUE(readText(path("back.bin")) == std::string(data.begin(), data.end()))
                << address;
        } else {
            EXPECT_EQ(run.exit_code, 2) << address << run.out;
            EXPECT_NE(run.err.find("past 16 MB"), npos) << run.err;
            EXPECT_NE(run.err.find("Nothing was written"), npos) << run.err;
            EXPECT_EQ(run.out.find("Writing at"), npos) << run.out;
        }
    }
    const std::string flash = readText(flash_);
    ASSERT_EQ(flash.size(), 32u << 20);
    for (uint32_t sector = 0; sector < flash.size(); sector += 0x1000) {
        auto found = expected.find(sector);
        const std::string want = found == expected.end()
                                     ? std::string(0x1000, '\xFF')
                                     : std::string(found->second.begin(), found->second.end());
        // The bootloader offset gets the image header's flash size patched: only random data
        // is written here, which the patch leaves alone unless it starts with the image magic.
        ASSERT_TRUE(flash.compare(sector, 0x1000, want) == 0) << "sector at " << sector;
    }
}

INSTANTIATE_TEST_SUITE_P(Chips, LargeFlash,
                         testing::Values(Target{"esp32c3", true}, Target{"esp32c6", true},
                                         Target{"esp32h2", true}, Target{"esp32p4", true},
                                         Target{"esp32c5", true}, Target{"esp32p4", false}),
                         chipAndLoader);

// Download mode over USB-OTG's CDC (ESP32-S2, S3, P4): no baud rate, RAM blocks of 2 KB (the
// ROM's USB buffer loses a longer frame), a hard reset through the RTC watchdog (the port's lines
// reset nothing there), and our stub, which does not speak it, left out.
class UsbOtgConsole : public LoaderE2E {};

TEST_P(UsbOtgConsole, WritesLoadsRamAndResetsThroughTheWatchdog) {
    const std::string otg = port("&console=otg");
    auto data = randomFile("data.bin", 64 << 10, 41);
    LoaderRun run = loader({"--baud", "921600", "write-flash", "0x10000", path("data.bin")}, otg);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("USB mode:           USB-OTG"), npos) << run.out;
    EXPECT_EQ(run.out.find("Changing baud rate"), npos) << run.out;
    EXPECT_NE(run.out.find("Hash of data verified."), npos) << run.out;
    EXPECT_NE(run.out.find("Hard resetting with a watchdog..."), npos) << run.out;
    if (esptools::chipdb::findChip(chip())->cpu != esptools::chipdb::Cpu::RiscV) return;
    EXPECT_NE(run.out.find("our flasher stub does not speak USB-OTG"), npos) << run.out;
    // An 8 KB RAM image: four 2 KB blocks get through where one 6 KB block would be lost.
    std::vector<uint8_t> image = {0xE9, 1, 0, 0};
    auto put32 = [&image](uint32_t value) {
        for (int i = 0; i < 4; ++i) image.push_back(uint8_t(value >> (8 * i)));
    };
    const uint32_t at = 0x4FF10000;
    put32(at);
    image.insert(image.end(), {0xEE, 0, 0, 0, 18, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0});
    put32(at);
    put32(0x2000);
    image.insert(image.end(), 0x2000, 0x13); // an even count XORs to nothing
    image.resize(image.size() + 15, 0);
    image.push_back(0xEF);
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("ram.bin"), image)));
    run = loader({"load-ram", path("ram.bin")}, otg);
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

INSTANTIATE_TEST_SUITE_P(Chips, UsbOtgConsole,
                         testing::Values(Target{"esp32s2", false}, Target{"esp32s3", false},
                                         Target{"esp32p4", true}),
                         chipName);

// Without a stub (the ESP32, S2 and S3 have none of ours; --no-stub anywhere) every command still
// works: reads through READ_FLASH_SLOW, or on the ESP8266 through the SPI controller's registers;
// MD5s from the ROM, or on the ESP8266 the read-back compared on the host; chip erase through the
// SPI registers.
class RomOnly : public LoaderE2E {};

// The ESP32's ROM is asked for the rate that its crystal estimate turns into the one wanted.
TEST_P(RomOnly, ChangesTheBaudRateAsTheRomNeedsIt) {
    auto data = randomFile("data.bin", 64 << 10, 32);
    LoaderRun run = loader({"--baud", "921600", "write-flash", "0x0", path("data.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    if (esptools::chipdb::findChip(chip())->rom.change_baudrate) {
        EXPECT_NE(run.out.find("Changing baud rate to 921600"), npos) << run.out;
    }
    run = loader({"--baud", "921600", "verify-flash", "0x0", path("data.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

TEST_P(RomOnly, ReadsVerifiesAndErasesWithoutAStub) {
    auto data = randomFile("data.bin", 64 << 10, 31);
    ASSERT_EQ(loader({"write-flash", "0x20000", path("data.bin")}).exit_code, 0);
    LoaderRun run = loader({"read-flash", "0x20000", "0x10000", path("back.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_TRUE(readText(path("back.bin")) == std::string(data.begin(), data.end()));
    run = loader({"verify-flash", "0x20000", path("data.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    data[0x1234] ^= 0x40;
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("changed.bin"), data)));
    run = loader({"verify-flash", "--diff", "0x20000", path("changed.bin")});
    EXPECT_EQ(run.exit_code, 2) << run.out;
    EXPECT_NE(run.out.find("0x00021234"), npos) << "the difference is named: " << run.out;
    run = loader({"erase-flash"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    const std::string flash = readText(flash_);
    EXPECT_EQ(flash.find_first_not_of('\xFF'), npos) << "the whole flash is erased";
}

INSTANTIATE_TEST_SUITE_P(Chips, RomOnly,
                         testing::Values(Target{"esp8266", false}, Target{"esp32", false},
                                         Target{"esp32s2", false}, Target{"esp32s3", false}),
                         chipName);

// ESP32-S3 v0.0 parts put other data where the major revision goes later; esptool tells them by
// their eFuse block version (1.1).
class ChipRevision : public LoaderE2E {};

TEST_P(ChipRevision, AnS3OfTheFirstRevisionReadsAsV0) {
    LoaderRun run = loader({"read-mac"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("(revision v0.0)"), npos) << run.out;
    run = loader({"read-mac"}, port("&rev=102"));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("(revision v1.2)"), npos) << run.out;
}

INSTANTIATE_TEST_SUITE_P(Esp32s3, ChipRevision, testing::Values(Target{"esp32s3", false}),
                         [](const testing::TestParamInfo<Target> &) { return std::string("rom"); });

} // namespace
