// esp-loader's command line as esptool's users type it: checks that run before any port is
// opened, click's option rules, argument files, and the commands' esptool spellings.
#include "loader_fixture.h"

namespace {

using namespace loader_e2e;

class CommandLine : public LoaderE2E {};

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
        {{"--baud", "abc", "flash-id"}, "--baud"}};
    for (const auto &[args, expected] : cases) {
        LoaderRun run = loader(args, nowhere);
        std::string line = llvm::join(args, " ");
        EXPECT_EQ(run.exit_code, 2) << line;
        EXPECT_NE(run.err.find(expected), std::string::npos) << line << "\n" << run.err;
        EXPECT_EQ(run.err.find("no-such-port"), std::string::npos) << line << "\n" << run.err;
        EXPECT_EQ(run.out.find("Connecting"), std::string::npos) << line << "\n" << run.out;
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

INSTANTIATE_TEST_SUITE_P(Rom, CommandLine, testing::Values(Target{"esp32c3", false}),
                         [](const testing::TestParamInfo<Target> &) { return "esp32c3_rom"; });

} // namespace
