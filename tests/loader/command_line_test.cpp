// esp-loader's command line as esptool's users type it: checks that run before any port is
// opened, click's option rules, argument files, and the commands' esptool spellings.
#include "loader_fixture.h"

#include "esptools/cli/json.h"

#include <cstring>
#include <fstream>
#include <optional>

#include <unistd.h>

namespace {

using namespace loader_e2e;

class CommandLine : public LoaderE2E {
protected:
    // esp-loader with exactly these arguments (no --port added) and, when given, this
    // environment in place of the ESPTOOL_* variables; stdout and stderr together.
    using Variables = std::vector<std::string>;
    LoaderRun runLoader(std::vector<std::string> args,
                        std::optional<Variables> variables = std::nullopt) {
        return variables ? loaderWithEnvironment(std::move(args), "ESPTOOL_", *variables)
                         : loaderWithEnvironment(std::move(args), "", {});
    }
};

// The port does not exist: an error about it would mean the arguments were checked too late.
TEST_P(CommandLine, UsageErrorsAreFoundBeforeAnyPortIsOpened) {
    const std::string nowhere = "/dev/esptools-no-such-port";
    randomFile("a.bin", 8192, 1);
    const std::string a = path("a.bin");
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"write-flash", "0x1000", a, "0x2000", a}, "overlap"},
        {{"write-flash", "0x1000", a, "0x400000"}, "pairs"},
        {{"write-flash", "0x1000", path("missing.bin")}, "missing.bin"},
        {{"write-flash", "zz", a}, "\"zz\""},
        {{"write-flash", "--flash-mode", "qqq", "0x0", a}, "--flash-mode: 'qqq'"},
        {{"write-flash", "--flash-size", "1MB", "0xFF000", a}, "will not fit in 1048576 bytes"},
        {{"write-flash", "--encrypt", "0x0", a}, "--encrypt"},
        {{"write-flash", "--flash-mod", "dio", "0x0", a}, "--flash-mod'"},
        {{"read-flash", "0x0", "lots", path("out.bin")}, "SIZE: 'lots'"},
        {{"read-flash", "0x0", "0x10", ""}, "output file name is empty"},
        {{"read-flash-status", "--bytes", "4"}, "--bytes"},
        {{"write-mem", "0x3FC88000", "abc"}, "VALUE: 'abc'"},
        {{"load-ram", path("missing.bin")}, "missing.bin"},
        {{"read-flash-sfdp", "0", "5"}, "(1-4)"},
        {{"--baud", "abc", "flash-id"}, "--baud"},
        {{"monitor", "--until", "("}, "--until '('"},
        {{"monitor", "--elf", path("missing.elf")}, "missing.elf"},
        {{"monitor", "--timeout", "0"}, "--timeout"},
        {{"write-flash", "--monitor", "--fail-on", "[", "0x0", a}, "--fail-on '['"}};
    for (const auto &[args, expected] : cases) {
        LoaderRun run = loader(args, nowhere);
        std::string line = llvm::join(args, " ");
        EXPECT_EQ(run.exit_code, 2) << line;
        EXPECT_NE(run.err.find(expected), std::string::npos) << line << "\n" << run.err;
        EXPECT_EQ(run.err.find("no-such-port"), std::string::npos) << line << "\n" << run.err;
        EXPECT_EQ(run.out.find("Connecting"), std::string::npos) << line << "\n" << run.out;
    }
}

// Without --port the USB serial ports are listed; esptool's --port-filter errors come first.
TEST_P(CommandLine, PortFilterErrorsAreEsptools) {
    LoaderRun run = runLoader({"--port-filter", "invalidkey=123", "flash-id"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.out.find("Option --port-filter argument key not recognized"), std::string::npos)
        << run.out;
    run = runLoader({"--port-filter", "name123", "flash-id"});
    EXPECT_NE(run.out.find("Option --port-filter argument must consist of key=value."),
              std::string::npos)
        << run.out;
    run = runLoader({"--port-filter", "name=NoSuchChipAnywhere", "flash-id"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.out.find("Found 0 serial ports..."), std::string::npos) << run.out;
}

// The monitor is one board's terminal: several boards are refused before any is touched.
TEST_P(CommandLine, TheMonitorWatchesOneBoard) {
    for (const std::vector<std::string> &args :
         {std::vector<std::string>{"--port", "vchip:esp32c3", "--port", "vchip:esp32c6", "monitor"},
          std::vector<std::string>{"--port", "vchip:esp32c3", "--port", "vchip:esp32c6", "run",
                                   "--monitor"}}) {
        LoaderRun run = runLoader(args);
        EXPECT_EQ(run.exit_code, 2) << run.out;
        EXPECT_NE(run.out.find("the monitor watches one board; 2 ports"), std::string::npos)
            << run.out;
        EXPECT_EQ(run.out.find("Connecting"), std::string::npos) << run.out;
    }
}

TEST_P(CommandLine, TheLastOfARepeatedOptionWins) {
    LoaderRun run = loader({"--chip", "esp32", "--chip", chip(), "flash-id"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    run = loader({"--chip", chip(), "--chip", "esp32", "flash-id"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("ESP32"), std::string::npos) << run.err;
}

TEST_P(CommandLine, ArgumentFilesAreExpandedAndShown) {
    std::ofstream(path("args.txt"))
        << "--chip " << chip() << "\n--port \"" << port() << "\"\n--no-stub flash-id\n";
    std::vector<std::string> args = {ESPTOOLS_LOADER, "@" + path("args.txt")};
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    std::string out = path("stdout.txt");
    llvm::sys::fs::remove(out);
    llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(out), llvm::None};
    EXPECT_EQ(llvm::sys::ExecuteAndWait(ESPTOOLS_LOADER, argv, llvm::None, redirects, 60), 0);
    std::string text = readText(out);
    EXPECT_NE(text.find("esptool --chip " + chip() + " --port " + port() + " --no-stub flash-id"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("Manufacturer:"), std::string::npos) << text;
}

TEST_P(CommandLine, VersionAsACommandAndAnOption) {
    for (const char *spelling : {"version", "--version"}) {
        LoaderRun run = loader({spelling}, "/dev/esptools-no-such-port");
        EXPECT_EQ(run.exit_code, 0) << run.err;
        EXPECT_NE(run.out.find("esp-loader v"), std::string::npos) << run.out;
    }
}

TEST_P(CommandLine, WriteMemTakesAPositionalMask) {
    ASSERT_EQ(loader({"write-mem", "0x3FC88000", "0x11111111"}).exit_code, 0);
    LoaderRun run = loader({"--before", "no-reset", "--after", "no-reset", "write-mem",
                            "0x3FC88000", "0x22222222", "0x0000FFFF"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("with mask 0x0000ffff"), std::string::npos) << run.out;
}

TEST_P(CommandLine, EraseRegionAllErasesToTheEndOfTheFlash) {
    randomFile("data.bin", 8192, 2);
    ASSERT_EQ(loader({"write-flash", "0x3FE000", path("data.bin")}).exit_code, 0);
    LoaderRun run = loader({"erase-region", "0x200000", "ALL"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Detected flash size: 4MB"), std::string::npos) << run.out;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    ASSERT_EQ(flash->size(), 4u << 20);
    EXPECT_TRUE(std::all_of(flash->begin() + 0x200000, flash->end(),
                            [](uint8_t byte) { return byte == 0xFF; }));
}

// What the README promises: the ESPTOOL_* variables stand in for the options.
TEST_P(CommandLine, EsptoolEnvironmentVariablesStandInForOptions) {
    LoaderRun run = runLoader({"--no-stub", "chip-id"},
                              Variables{"ESPTOOL_PORT=" + port(), "ESPTOOL_CHIP=" + chip()});
    EXPECT_EQ(run.exit_code, 0) << run.out;
    EXPECT_NE(run.out.find("Serial port " + port()), std::string::npos) << run.out;
    run = runLoader({"chip-id"}, Variables{"ESPTOOL_PORT=" + port(), "ESPTOOL_CHIP=esp32s3"});
    EXPECT_NE(run.out.find("not ESP32-S3"), std::string::npos) << run.out;
    run = runLoader({"chip-id"}, Variables{"ESPTOOL_PORT=" + port(), "ESPTOOL_BAUD=fast"});
    EXPECT_NE(run.out.find("--baud: 'fast'"), std::string::npos) << run.out;
    // The command line wins over the environment.
    run = runLoader({"--port", port(), "--no-stub", "chip-id"},
                    Variables{"ESPTOOL_PORT=/dev/esptools-no-such-port"});
    EXPECT_EQ(run.exit_code, 0) << run.out;
}

// esptool's notes about its configuration file, which its own tests read after `version`.
TEST_P(CommandLine, ConfigFileNotesAreEsptools) {
    const std::string config = path("esptool.cfg");
    const std::string named = dir_.str().str() + "/./esptool.cfg"; // printed without the "./"
    std::ofstream(config) << "[esptool]\nconnect_attempts = 9\ntimoout = 2\nbits = 2\n";
    LoaderRun run = runLoader({"version"}, Variables{"ESPTOOL_CFGFILE=" + named});
    EXPECT_EQ(run.exit_code, 0) << run.out;
    EXPECT_NE(run.out.find("Loaded custom configuration from " + config + " "), std::string::npos)
        << run.out;
    EXPECT_NE(run.out.find("Ignoring unknown config file options: bits, timoout"),
              std::string::npos)
        << run.out;
    std::ofstream(config) << "[esptool]\nconnect_attempts = 5\nconnect_attempts = 9\n";
    run = runLoader({"version"}, Variables{"ESPTOOL_CFGFILE=" + config});
    EXPECT_NE(run.out.find("Ignoring invalid config file " + config + ": While reading from '" +
                           config +
                           "' [line 3]: option 'connect_attempts' in section 'esptool' already "
                           "exists"),
              std::string::npos)
        << run.out;
    EXPECT_EQ(run.out.find("Loaded custom configuration"), std::string::npos) << run.out;
}

TEST_P(CommandLine, ResetsAndSpiPinsTheReadmePromises) {
    LoaderRun run = loader({"--after", "soft-reset", "chip-id"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Soft resetting..."), std::string::npos) << run.out;
    run = loader({"--before", "usb-reset", "chip-id"}, port("&console=usb"));
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("USB mode:           USB-Serial/JTAG"), std::string::npos) << run.out;
    run = loader({"flash-id", "--spi-connection", "6,17,8,11,16"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Configuring SPI NOR flash mode (CLK:6, Q:17, D:8, HD:11, CS:16)"),
              std::string::npos)
        << run.out;
    run = loader({"flash-id", "--spi-connection", "6,17,8"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("--spi-connection"), std::string::npos) << run.err;
}

// An Intel HEX file brings its own addresses (esptool's merge-bin --format hex writes them).
TEST_P(CommandLine, WritesAnIntelHexFileWhereItsRecordsSay) {
    auto first = randomFile("first.bin", 3000, 10);
    auto second = randomFile("second.bin", 5000, 11);
    std::vector<std::string> args = {ESPTOOLS_IMAGEGEN,
                                     "--chip",
                                     chip(),
                                     "merge-bin",
                                     "--format",
                                     "hex",
                                     "-o",
                                     path("both.hex"),
                                     "0x11000",
                                     path("first.bin"),
                                     "0x30000",
                                     path("second.bin")};
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    ASSERT_EQ(llvm::sys::ExecuteAndWait(ESPTOOLS_IMAGEGEN, argv), 0);
    LoaderRun run = loader({"write-flash", "0x0", path("both.hex")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(first.begin(), first.end(), flash->begin() + 0x11000));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), flash->begin() + 0x30000));
    EXPECT_EQ((*flash)[0x10000], 0xFF) << "the address before the file's was written";
}

// esptool takes connection options before any command; its offline commands ignore them.
TEST_P(CommandLine, ImageCommandsAcceptAndIgnoreConnectionOptions) {
    std::vector<std::string> args = {ESPTOOLS_IMAGEGEN,
                                     "--port",
                                     "/dev/ttyUSB9",
                                     "--baud",
                                     "921600",
                                     "--before",
                                     "no-reset",
                                     "--after=no-reset",
                                     "--connect-attempts",
                                     "3",
                                     "--trace",
                                     "--chip",
                                     "esp32c6",
                                     "image-info",
                                     std::string(ESPTOOLS_TEST_DATA_DIR) +
                                         "/inputs/esp32c6_app.bin"};
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef("/dev/null"),
                                                   llvm::None};
    EXPECT_EQ(llvm::sys::ExecuteAndWait(ESPTOOLS_IMAGEGEN, argv, llvm::None, redirects, 60), 0);
}

// Several --port options run the command on every board at once, each with its own chip
// detection and stub; the summary and the --json records say what each did, and the exit code is
// 0 only when every board succeeded.
TEST_P(CommandLine, ManyBoardsAtOnceWithARecordEach) {
    auto data = randomFile("app.bin", 40000, 5);
    const std::string c3 = "vchip:esp32c3?flash=" + path("c3.bin");
    const std::string c6 = "vchip:esp32c6?flash=" + path("c6.bin");
    LoaderRun run = runLoader({"--port", c3, "--port", c6, "--json", path("boards.json"),
                               "write-flash", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out;
    EXPECT_NE(run.out.find("All 2 boards succeeded."), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("ESP32-C3"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("ESP32-C6"), std::string::npos) << run.out;
    for (const char *flash : {"c3.bin", "c6.bin"}) {
        std::string contents = readText(path(flash));
        ASSERT_GE(contents.size(), 0x10000u + data.size()) << flash;
        EXPECT_EQ(0, std::memcmp(contents.data() + 0x10000, data.data(), data.size())) << flash;
    }
    auto records = esptools::cli::parseJsonRecords(readText(path("boards.json")), "boards.json");
    ASSERT_TRUE(bool(records)) << llvm::toString(records.takeError());
    ASSERT_EQ(records->size(), 2u);
    auto text = [](const esptools::cli::JsonRecord &record, const char *key) {
        auto found = record.find(key);
        return found == record.end() ? std::string("(absent)") : found->second.text;
    };
    using Kind = esptools::cli::JsonScalar::Kind;
    for (size_t i = 0; i < 2; ++i) {
        const auto &board = (*records)[i];
        EXPECT_EQ(text(board, "port"), i == 0 ? c3 : c6);
        EXPECT_EQ(text(board, "chip"), i == 0 ? "ESP32-C3" : "ESP32-C6");
        EXPECT_EQ(text(board, "mac").size(), 17u);
        EXPECT_EQ(text(board, "command"), "write-flash");
        EXPECT_EQ(text(board, "bytes"), std::to_string(data.size()));
        EXPECT_EQ(text(board, "sectors_written"), "10");
        ASSERT_TRUE(board.count("verified") && board.at("verified").kind == Kind::Bool);
        EXPECT_TRUE(board.at("verified").flag);
        ASSERT_TRUE(board.count("error"));
        EXPECT_EQ(board.at("error").kind, Kind::Null);
    }

    // A board that fails fails the run; the others still do their work. ESPTOOL_PORT takes the
    // list, separated by ':' as PATH is.
    randomFile("app2.bin", 40000, 6);
    run = runLoader({"--json", path("boards.json"), "write-flash", "0x10000", path("app2.bin")},
                    Variables{"ESPTOOL_PORT=" + c3 + ":/dev/esptools-no-such-port"});
    EXPECT_NE(run.exit_code, 0) << run.out;
    EXPECT_NE(run.out.find("1 of 2 boards failed."), std::string::npos) << run.out;
    records = esptools::cli::parseJsonRecords(readText(path("boards.json")), "boards.json");
    ASSERT_TRUE(bool(records)) << llvm::toString(records.takeError());
    ASSERT_EQ(records->size(), 2u);
    EXPECT_EQ((*records)[0].at("error").kind, Kind::Null);
    EXPECT_NE(text((*records)[1], "error").find("no-such-port"), std::string::npos);
}

// --json with one board: its record, with the sectors the chip already held counted as skipped.
TEST_P(CommandLine, OneBoardsRecordCountsSkippedSectors) {
    randomFile("app.bin", 3 * 4096, 9);
    const std::string port = "vchip:esp32c3?flash=" + path("flash.bin");
    ASSERT_EQ(runLoader({"--port", port, "write-flash", "0x0", path("app.bin")}).exit_code, 0);
    LoaderRun run = runLoader(
        {"--port", port, "--json", path("one.json"), "write-flash", "0x0", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out;
    auto records = esptools::cli::parseJsonRecords(readText(path("one.json")), "one.json");
    ASSERT_TRUE(bool(records)) << llvm::toString(records.takeError());
    ASSERT_EQ(records->size(), 1u);
    const auto &board = records->front();
    EXPECT_EQ(board.at("sectors_skipped").text, "3");
    EXPECT_EQ(board.at("sectors_written").text, "0");
    EXPECT_GT(std::stod(board.at("seconds").text), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Rom, CommandLine, testing::Values(Target{"esp32c3", false}),
                         [](const testing::TestParamInfo<Target> &) { return "esp32c3_rom"; });

} // namespace
