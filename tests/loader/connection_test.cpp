// The connection layer without a device: reset sequences, their choice, the configuration file,
// USB serial port discovery over a sysfs-like tree built here, and ESPTOOL_PORT's port lists.
#include "esptools/loader/boards.h"
#include "esptools/loader/config.h"
#include "esptools/loader/port.h"
#include "esptools/loader/reset.h"
#include "esptools/loader/stub.h"

#include <gtest/gtest.h>
#include <llvm/Support/FileSystem.h>

#include <cstdlib>
#include <fstream>
#include <optional>

using namespace esptools::loader;

namespace {

// Records the line changes a sequence makes, as (dtr, rts) after each step.
class RecordingPort final : public Port {
public:
    RecordingPort(bool tight, std::optional<UsbId> usb) : tight_(tight), usb_(usb) {}
    llvm::Error write(std::span<const uint8_t>) override { return llvm::Error::success(); }
    llvm::Expected<size_t> read(std::span<uint8_t>, std::chrono::milliseconds) override {
        return 0;
    }
    llvm::Error setBaudRate(uint32_t) override { return llvm::Error::success(); }
    void setDtr(bool asserted) override { record(asserted, rts_); }
    void setRts(bool asserted) override { record(dtr_, asserted); }
    void setDtrRts(bool dtr, bool rts) override { record(dtr, rts); }
    bool setsBothLinesAtOnce() const override { return tight_; }
    bool hasControlLines() const override { return true; }
    bool runsInRealTime() const override { return false; }
    std::optional<UsbId> usbId() const override { return usb_; }
    const std::string &name() const override { return name_; }

    std::vector<std::pair<bool, bool>> lines;

private:
    void record(bool dtr, bool rts) {
        dtr_ = dtr, rts_ = rts;
        lines.emplace_back(dtr, rts);
    }
    bool tight_;
    std::optional<UsbId> usb_;
    bool dtr_ = false, rts_ = false;
    std::string name_ = "recording";
};

void writeText(const std::string &path, const std::string &text) {
    std::ofstream(path, std::ios::binary) << text;
}

struct TempDir {
    llvm::SmallString<128> path;
    TempDir() { EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-conn", path)); }
    ~TempDir() { llvm::sys::fs::remove_directories(path); }
    std::string operator/(const std::string &name) const { return (path + "/" + name).str(); }
};

} // namespace

TEST(ResetSequence, ParsesEsptoolsSyntaxAndNamesABadStep) {
    auto steps = parseResetSequence(" D0 | R1 | W0.1 | D1|R0|W0.05|D0|U1,0 ");
    ASSERT_TRUE(bool(steps)) << llvm::toString(steps.takeError());
    ASSERT_EQ(steps->size(), 8u);
    EXPECT_EQ((*steps)[2].kind, ResetStep::Kind::Wait);
    EXPECT_DOUBLE_EQ((*steps)[2].seconds, 0.1);
    EXPECT_EQ((*steps)[7].kind, ResetStep::Kind::Both);
    EXPECT_TRUE((*steps)[7].dtr);
    EXPECT_FALSE((*steps)[7].rts);
    for (const char *bad : {"D2", "R1|X0", "Wabc", "U1", "D"}) {
        auto parsed = parseResetSequence(bad);
        ASSERT_FALSE(bool(parsed)) << bad;
        EXPECT_NE(llvm::toString(parsed.takeError()).find("Invalid custom reset sequence"),
                  std::string::npos);
    }
}

TEST(ResetSequence, ClassicResetReleasesEnWhileGpio0IsHeldLow) {
    RecordingPort port(false, std::nullopt);
    playResetSequence(port, classicReset(0.05));
    // The step that releases RTS (EN) must keep DTR (GPIO0) asserted: that is download mode.
    bool entered_download = false;
    for (size_t i = 1; i < port.lines.size(); ++i)
        entered_download |=
            port.lines[i - 1].second && !port.lines[i].second && port.lines[i].first;
    EXPECT_TRUE(entered_download);
    EXPECT_EQ(port.lines.back(), std::make_pair(false, false)) << "both lines released at the end";
}

// A hard reset starts the app (EN pulsed, IO0 never held); over the chip's own USB, which leaves
// the bus while the chip is in reset, EN is held longer and the device is given time to come
// back before anything else is written (esptool's HardReset with uses_usb).
TEST(ResetSequence, AHardResetOverUsbWaitsForTheDeviceToComeBack) {
    auto timing = [](const ResetSequence &steps) {
        double hold = 0, after_release = 0, unused = 0;
        bool en_low = false, released = false;
        for (const ResetStep &step : steps) {
            EXPECT_FALSE(step.dtr) << "IO0 held low would enter download mode";
            if (step.kind == ResetStep::Kind::Rts) {
                released |= en_low && !step.rts;
                en_low = step.rts;
            } else if (step.kind == ResetStep::Kind::Wait) {
                (en_low ? hold : released ? after_release : unused) += step.seconds;
            }
        }
        EXPECT_FALSE(en_low) << "EN released at the end";
        return std::make_pair(hold, after_release);
    };
    auto [uart_hold, uart_after] = timing(hardReset(false));
    auto [usb_hold, usb_after] = timing(hardReset(true));
    EXPECT_DOUBLE_EQ(uart_hold, 0.1);
    EXPECT_DOUBLE_EQ(uart_after, 0);
    EXPECT_DOUBLE_EQ(usb_hold, 0.2);
    EXPECT_DOUBLE_EQ(usb_after, 0.2);
}

TEST(ResetSequence, StrategiesFollowThePortAndTheSettings) {
    ResetSettings settings;
    RecordingPort tty(true, UsbId{0x10C4, 0xEA60});
    auto strategies = resetStrategies(tty, settings);
    ASSERT_TRUE(bool(strategies));
    EXPECT_EQ(strategies->size(), 4u) << "Unix tight twice, then classic twice";
    EXPECT_EQ(strategies->front(), unixTightReset(0.05));

    RecordingPort other(false, std::nullopt);
    strategies = resetStrategies(other, settings);
    ASSERT_TRUE(bool(strategies));
    EXPECT_EQ(strategies->size(), 2u);
    EXPECT_EQ(strategies->back(), classicReset(0.55));

    RecordingPort usb_jtag(true, UsbId{0x303A, 0x1001});
    strategies = resetStrategies(usb_jtag, settings);
    ASSERT_TRUE(bool(strategies));
    ASSERT_EQ(strategies->size(), 1u);
    EXPECT_EQ(strategies->front(), usbJtagSerialReset());

    settings.custom_sequence = "R1|W0.2|R0";
    strategies = resetStrategies(tty, settings);
    ASSERT_TRUE(bool(strategies));
    ASSERT_EQ(strategies->size(), 1u);
    EXPECT_EQ(strategies->front().size(), 3u);
}

TEST(ToolConfig, ReadsTheEsptoolSectionAndReportsUnknownKeys) {
    TempDir dir;
    writeText(dir / "esptool.cfg", "# comment\n[other]\ntimeout = 99\n[esptool]\n"
                                   "timeout = 5\nreset_delay: 0.2\nbogus = 1\nalso_bogus=2\n"
                                   "custom_reset_sequence = D0|R1|W0.1|\n  D1|R0|W0.05|D0\n");
    auto config = readToolConfig(dir / "esptool.cfg");
    ASSERT_TRUE(config.has_value());
    auto timeout = config->number("timeout");
    ASSERT_TRUE(bool(timeout));
    EXPECT_EQ(**timeout, 5.0) << "the [other] section is not read";
    EXPECT_EQ(*config->text("reset_delay"), "0.2");
    EXPECT_EQ(config->unknown_keys, (std::vector<std::string>{"also_bogus", "bogus"}));
    auto sequence = parseResetSequence(*config->text("custom_reset_sequence"));
    ASSERT_TRUE(bool(sequence)) << "a continued value joins its lines";
    EXPECT_EQ(sequence->size(), 7u);

    writeText(dir / "setup.cfg", "[metadata]\nname = x\n");
    EXPECT_FALSE(readToolConfig(dir / "setup.cfg").has_value()) << "no [esptool] section";
    writeText(dir / "bad.cfg", "[esptool]\ntimeout = soon\n");
    auto bad = readToolConfig(dir / "bad.cfg");
    ASSERT_TRUE(bad.has_value());
    auto number = bad->number("timeout");
    ASSERT_FALSE(bool(number));
    std::string message = llvm::toString(number.takeError());
    EXPECT_NE(message.find("bad.cfg"), std::string::npos) << message;
    EXPECT_NE(message.find("timeout"), std::string::npos) << message;
}

TEST(PortDiscovery, FindsUsbSerialPortsInEsptoolsOrderAndFilters) {
    TempDir dir;
    auto make = [&](const std::string &tty, const std::string &usb_path, const char *vid,
                    const char *pid, const char *serial, const std::string &below) {
        std::string usb = dir / ("devices/" + usb_path);
        ASSERT_FALSE(llvm::sys::fs::create_directories(usb + "/" + below));
        writeText(usb + "/idVendor", std::string(vid) + "\n");
        writeText(usb + "/idProduct", std::string(pid) + "\n");
        writeText(usb + "/serial", std::string(serial) + "\n");
        writeText(usb + "/product", "Bridge " + tty + "\n");
        ASSERT_FALSE(llvm::sys::fs::create_directories(dir / ("class/tty/" + tty)));
        ASSERT_FALSE(
            llvm::sys::fs::create_link(usb + "/" + below, dir / ("class/tty/" + tty + "/device")));
    };
    make("ttyACM0", "usb1/1-1", "303a", "1001", "AA:BB", "1-1:1.0");
    make("ttyUSB1", "usb1/1-2", "10c4", "ea60", "0001", "1-2:1.0/ttyUSB1");
    make("ttyUSB0", "usb1/1-3", "1a86", "7523", "0002", "1-3:1.0/ttyUSB0");
    // A built-in UART has no USB ancestor and is not offered.
    ASSERT_FALSE(llvm::sys::fs::create_directories(dir / "devices/platform/serial8250"));
    ASSERT_FALSE(llvm::sys::fs::create_directories(dir / "class/tty/ttyS0"));
    ASSERT_FALSE(llvm::sys::fs::create_link(dir / "devices/platform/serial8250",
                                            dir / "class/tty/ttyS0/device"));

    auto ports = listUsbSerialPorts(dir / "class/tty", "/dev");
    ASSERT_EQ(ports.size(), 3u);
    EXPECT_EQ(ports[0].device, "/dev/ttyACM0") << "Espressif's VID first";
    EXPECT_EQ(ports[1].device, "/dev/ttyUSB0");
    EXPECT_EQ(ports[2].device, "/dev/ttyUSB1");
    EXPECT_EQ(ports[0].usb->pid, 0x1001);

    auto filtered = filterPorts(ports, {"vid=0x10c4", "vid=0x1a86", "serial=0001"});
    ASSERT_TRUE(bool(filtered));
    ASSERT_EQ(filtered->size(), 1u) << "values of one key OR-ed, keys AND-ed";
    EXPECT_EQ(filtered->front().device, "/dev/ttyUSB1");
    filtered = filterPorts(ports, {"name=acm"});
    ASSERT_TRUE(bool(filtered));
    ASSERT_EQ(filtered->size(), 1u);
    for (const char *bad : {"vid", "colour=red", "pid=zz"}) {
        auto refused = filterPorts(ports, {bad});
        ASSERT_FALSE(bool(refused)) << bad;
        llvm::consumeError(refused.takeError());
    }
}

namespace {

// Sets an environment variable for one scope.
struct ScopedEnv {
    std::string name;
    std::optional<std::string> old;
    ScopedEnv(std::string variable, const std::string &value) : name(std::move(variable)) {
        if (const char *was = std::getenv(name.c_str())) old = was;
        setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old)
            setenv(name.c_str(), old->c_str(), 1);
        else
            unsetenv(name.c_str());
    }
};

} // namespace

// Where a chip has no stub of ours, Espressif's own is taken from an esptool installation:
// ESPTOOL_STUB_DIR first, then esptool's Python package, then ESP-IDF's copy under IDF_PATH.
TEST(StubDiscovery, EspressifsStubIsFoundWhereEsptoolKeepsIt) {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-stubs", dir));
    const std::string json = R"({"entry": 1074266112, "text": "AAAA", "text_start": 1074266112,
                                 "data": "", "data_start": 1073741824})";
    const std::string idf = (dir + "/idf").str(), own = (dir + "/own").str();
    const std::string in_idf =
        idf + "/components/esptool_py/esptool/esptool/targets/stub_flasher/1";
    ASSERT_FALSE(llvm::sys::fs::create_directories(in_idf));
    ASSERT_FALSE(llvm::sys::fs::create_directories(own));
    std::ofstream(in_idf + "/esp32s3.json") << json;
    std::ofstream(own + "/esp32s3.json") << json;
    ScopedEnv no_home("HOME", dir.str().str()), no_venv("VIRTUAL_ENV", "");
    {
        ScopedEnv idf_path("IDF_PATH", idf);
        auto stub = esptools::loader::findStub("esp32s3", "");
        ASSERT_TRUE(bool(stub) && *stub)
            << (stub ? "none found" : llvm::toString(stub.takeError()));
        EXPECT_EQ((*stub)->origin, in_idf + "/esp32s3.json");
        EXPECT_FALSE((*stub)->numbers_data_answers) << "not ours";
        ScopedEnv first("ESPTOOL_STUB_DIR", own);
        stub = esptools::loader::findStub("esp32s3", "");
        ASSERT_TRUE(bool(stub) && *stub);
        EXPECT_EQ((*stub)->origin, own + "/esp32s3.json");
        // Ours comes first where there is one.
        std::ofstream(own + "/esp32c3.json") << json;
        stub = esptools::loader::findStub("esp32c3", "");
        ASSERT_TRUE(bool(stub) && *stub);
        EXPECT_TRUE((*stub)->numbers_data_answers) << (*stub)->origin;
    }
    llvm::sys::fs::remove_directories(dir);
}

// ESPTOOL_PORT's list: ':' separates ports as in PATH, but not the one inside HOST:PORT or after
// vchip.
TEST(PortList, SplitsAtColonsOutsidePortNames) {
    EXPECT_EQ(splitPortList("socket://127.0.0.1:5555:/dev/ttyUSB0:rfc2217://farm.local:4001:"
                            "vchip:esp32c3?flash=/tmp/a.bin:/dev/ttyACM1"),
              (std::vector<std::string>{"socket://127.0.0.1:5555", "/dev/ttyUSB0",
                                        "rfc2217://farm.local:4001",
                                        "vchip:esp32c3?flash=/tmp/a.bin", "/dev/ttyACM1"}));
    EXPECT_EQ(splitPortList("/dev/ttyUSB0"), std::vector<std::string>{"/dev/ttyUSB0"});
    EXPECT_EQ(splitPortList("::/dev/ttyUSB0::"), std::vector<std::string>{"/dev/ttyUSB0"});
    EXPECT_TRUE(splitPortList("").empty());
}
