// The virtual chip's consoles as silicon has them: download mode on UART0 or on the chip's own
// USB-Serial-JTAG, the ROM's record of which, the reset lines each reads, and the RTC watchdog a
// USB reset leaves running.
#include "rom_client.h"

#include "esptools/chipdb/chip.h"

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
