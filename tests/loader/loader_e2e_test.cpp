#include "esptools/cli/cli.h"

#include <gtest/gtest.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Program.h>

#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace {

struct LoaderRun {
    int exit_code;
    std::string out;
    std::string err;
};

std::string readText(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class LoaderE2E : public testing::TestWithParam<const char *> {
protected:
    void SetUp() override {
        ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-loader", dir_));
        flash_ = (dir_ + "/flash.bin").str();
    }
    void TearDown() override { llvm::sys::fs::remove_directories(dir_); }

    std::string port(const std::string &extra = "") const {
        return std::string("vchip:") + GetParam() + "?flash=" + flash_ + extra;
    }
    std::string path(const char *name) const { return (dir_ + "/" + name).str(); }

    LoaderRun loader(std::vector<std::string> args, const std::string &port_spec = "") {
        args.insert(args.begin(),
                    {ESPTOOLS_LOADER, "--port", port_spec.empty() ? port() : port_spec});
        std::vector<llvm::StringRef> argv(args.begin(), args.end());
        std::string out = path("stdout.txt"), err = path("stderr.txt");
        llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(out),
                                                       llvm::StringRef(err)};
        int code = llvm::sys::ExecuteAndWait(ESPTOOLS_LOADER, argv, llvm::None, redirects, 120);
        return {code, readText(out), readText(err)};
    }

    std::vector<uint8_t> randomFile(const char *name, size_t size, uint64_t seed) {
        std::mt19937_64 random(seed);
        std::vector<uint8_t> bytes(size);
        for (auto &byte : bytes) byte = uint8_t(random());
        EXPECT_FALSE(bool(esptools::cli::writeFileAtomically(path(name), bytes)));
        return bytes;
    }

    llvm::SmallString<128> dir_;
    std::string flash_;
};

TEST_P(LoaderE2E, DetectsTheChipAndReadsItsMac) {
    LoaderRun run = loader({"read-mac"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("24:0a:c4:12:34:56"), std::string::npos) << run.out;
    // A wrong --chip is refused by name.
    const char *other = std::string(GetParam()) == "esp32" ? "esp8266" : "esp32";
    run = loader({"--chip", other, "read-mac"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("Wrong --chip"), std::string::npos) << run.err;
}

TEST_P(LoaderE2E, WritesVerifiesAndReadsBackOneMegabyte) {
    auto data = randomFile("data.bin", 1 << 20, 42);
    LoaderRun run = loader({"write-flash", "0x10000", path("data.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    if (std::string(GetParam()) != "esp8266") {
        EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
    }
    run = loader({"verify-flash", "0x10000", path("data.bin")});
    if (std::string(GetParam()) != "esp8266") {
        ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
        EXPECT_NE(run.out.find("digest matched"), std::string::npos);
        run = loader({"read-flash", "0x10000", "1M", path("back.bin")});
        ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
        auto back = esptools::cli::readFile(path("back.bin"));
        ASSERT_TRUE(bool(back));
        EXPECT_TRUE(*back == data);
    }
    // The flash file holds the data at its offset: another process sees the same chip.
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), flash->begin() + 0x10000));
}

TEST_P(LoaderE2E, VerifyDiffListsAChangedByte) {
    if (std::string(GetParam()) == "esp8266")
        GTEST_SKIP() << "the ESP8266 ROM has no MD5 or flash read";
    auto data = randomFile("data.bin", 8192, 7);
    ASSERT_EQ(loader({"write-flash", "--no-compress", "0x20000", path("data.bin")}).exit_code, 0);
    data[100] ^= 0xFF;
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("changed.bin"), data)));
    LoaderRun run = loader({"verify_flash", "--diff", "yes", "0x20000", path("changed.bin")});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.out.find("1 differences, first at 0x00020064"), std::string::npos) << run.out;
    char line[64];
    std::snprintf(line, sizeof line, "   0x00020064 %02x %02x", uint8_t(data[100] ^ 0xFF),
                  data[100]);
    EXPECT_NE(run.out.find(line), std::string::npos) << run.out;
}

TEST_P(LoaderE2E, StatusRegisterWritesSurviveAPowerCycleOnlyWhenNonVolatile) {
    // Each esp-loader run is a fresh power-up of the virtual chip from its flash file.
    LoaderRun run = loader({"write-flash-status", "--bytes", "1", "0x1C"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("After flash memory status:   0x1c"), std::string::npos) << run.out;
    run = loader({"read-flash-status", "--bytes", "1"});
    EXPECT_NE(run.out.find("Flash memory status: 0x0000"), std::string::npos) << run.out;
    run = loader({"write-flash-status", "--bytes", "2", "--non-volatile", "0x021C"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    run = loader({"read-flash-status", "--bytes", "2"});
    EXPECT_NE(run.out.find("Flash memory status: 0x021c"), std::string::npos) << run.out;
}

TEST_P(LoaderE2E, SurvivesCorruptedBytesOnTheLink) {
    if (std::string(GetParam()) == "esp8266")
        GTEST_SKIP() << "the ESP8266 ROM has no MD5 to check against";
    auto data = randomFile("data.bin", 64 << 10, 3);
    LoaderRun run = loader({"write-flash", "0x0", path("data.bin")},
                           port("&corrupt=0.01&corrupt_in=0.00005&seed=11"));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    run = loader({"verify-flash", "0x0", path("data.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

TEST_P(LoaderE2E, ADisconnectMidWriteFailsNamingTheOffset) {
    randomFile("data.bin", 256 << 10, 5);
    auto start = std::chrono::steady_clock::now();
    LoaderRun run = loader({"write-flash", "--no-compress", "0x0", path("data.bin")},
                           port("&disconnect_after=60000"));
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("stopped at 0x"), std::string::npos) << run.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST_P(LoaderE2E, RefusesToLoadAFlashMappedImageIntoRam) {
    if (std::string(GetParam()) != "esp32c6") GTEST_SKIP() << "uses the ESP32-C6 corpus image";
    std::string image = std::string(ESPTOOLS_CORPUS_DIR) + "/out/esp32c6-appdesc-default/img.bin";
    LoaderRun run = loader({"load-ram", image});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("flash-mapped segments"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("0x42000020"), std::string::npos) << run.err;
}

INSTANTIATE_TEST_SUITE_P(Chips, LoaderE2E,
                         testing::Values("esp8266", "esp32", "esp32s2", "esp32s3", "esp32c3",
                                         "esp32c6", "esp32h2", "esp32p4"),
                         [](const testing::TestParamInfo<const char *> &info) {
                             return std::string(info.param);
                         });

// The esptool.cfg named by ESPTOOL_CFGFILE is announced and its reset sequence is the one played:
// one that never holds GPIO0 low boots the chip instead of entering download mode.
TEST(LoaderConfig, ACustomResetSequenceFromTheConfigFileIsUsed) {
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("esptools-config", dir));
    auto run = [&](const std::string &sequence) {
        std::string config = (dir + "/esptool.cfg").str();
        std::ofstream(config) << "[esptool]\ncustom_reset_sequence = " << sequence << "\n";
        std::vector<std::string> environment;
        for (char **entry = environ; *entry; ++entry) environment.emplace_back(*entry);
        environment.push_back("ESPTOOL_CFGFILE=" + config);
        std::vector<llvm::StringRef> env(environment.begin(), environment.end());
        std::vector<llvm::StringRef> argv = {ESPTOOLS_LOADER,      "--port", "vchip:esp32c3",
                                             "--connect-attempts", "1",      "chip-id"};
        std::string out = (dir + "/out.txt").str();
        llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(out),
                                                       llvm::StringRef(out)};
        int code = llvm::sys::ExecuteAndWait(ESPTOOLS_LOADER, argv,
                                             llvm::ArrayRef<llvm::StringRef>(env), redirects, 60);
        return std::make_pair(code, readText(out));
    };
    auto [good_code, good_out] = run("D0|R1|W0.1|D1|R0|W0.05|D0");
    EXPECT_EQ(good_code, 0) << good_out;
    EXPECT_NE(good_out.find("Loaded custom configuration from"), std::string::npos) << good_out;
    EXPECT_NE(good_out.find("(set with ESPTOOL_CFGFILE)"), std::string::npos) << good_out;
    auto [boot_code, boot_out] = run("D0|R1|W0.1|R0");
    EXPECT_EQ(boot_code, 2) << boot_out;
    EXPECT_NE(boot_out.find("Failed to connect"), std::string::npos) << boot_out;
    auto [bad_code, bad_out] = run("D0|R7");
    EXPECT_EQ(bad_code, 2) << bad_out;
    EXPECT_NE(bad_out.find("Invalid custom reset sequence option format: R7"), std::string::npos)
        << bad_out;
    llvm::sys::fs::remove_directories(dir);
}

} // namespace
