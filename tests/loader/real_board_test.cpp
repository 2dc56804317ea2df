// What real boards need that a plain UART bridge never shows: a ROM that talks over the chip's own
// USB-Serial-JTAG, watchdogs a USB reset leaves running, the RTC watchdog reset, and a stub that
// does not start.
#include "loader_fixture.h"

#include <regex>

namespace {

using namespace loader_e2e;

constexpr auto npos = std::string::npos;

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
                         [](const testing::TestParamInfo<Target> &info) {
                             return std::string(info.param.chip);
                         });

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
                         [](const testing::TestParamInfo<Target> &info) {
                             return std::string(info.param.chip);
                         });

} // namespace
