#include "loader_fixture.h"

#include "esptools/formats/partition_table.h"
#include "test_image.h"

#include <llvm/Support/SHA256.h>

#include <cstring>

namespace {

using namespace loader_e2e;

TEST_P(LoaderE2E, DetectsTheChipAndReadsItsMac) {
    LoaderRun run = loader({"read-mac"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("24:0a:c4:12:34:56"), std::string::npos) << run.out;
    // The ROM reads the MAC as well as a stub would: none is uploaded for it.
    EXPECT_EQ(run.out.find("Stub flasher running."), std::string::npos) << run.out;
    // A wrong --chip is refused by name.
    const char *other = chip() == "esp32" ? "esp8266" : "esp32";
    run = loader({"--chip", other, "read-mac"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("Wrong chip argument?"), std::string::npos) << run.err;
}

TEST_P(LoaderE2E, ReportsSecurityInfo) {
    if (chip() == "esp8266" || chip() == "esp32")
        GTEST_SKIP() << "that ROM has no GET_SECURITY_INFO";
    LoaderRun run = loader({"get-security-info"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("Flash Encryption: Disabled"), std::string::npos) << run.out;
}

TEST_P(LoaderE2E, WritesVerifiesAndReadsBackOneMegabyte) {
    auto data = randomFile("data.bin", 1 << 20, 42);
    LoaderRun run = loader({"write-flash", "0x10000", path("data.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    if (chip() != "esp8266") {
        EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
    }
    run = loader({"verify-flash", "0x10000", path("data.bin")});
    if (chip() != "esp8266") {
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

// Files whose compressed streams end on and around the sizes where the data blocks change (a
// stream ends in 8, 4, 2, 1 KiB blocks through the stub, after whole 16 KiB ones and a first one
// with the rest; incompressible data grows by 11 bytes of zlib framing), in one command.
TEST_P(LoaderE2E, WritesFilesOfEveryBlockBoundarySize) {
    const size_t sizes[] = {1, 1013, 1014, 15349, 15350, 16373, 31733, 31734, 100000};
    std::vector<std::string> args = {"write-flash"};
    std::vector<std::vector<uint8_t>> files;
    for (size_t i = 0; i < std::size(sizes); ++i) {
        std::string name = "part" + std::to_string(i) + ".bin";
        files.push_back(randomFile(name.c_str(), sizes[i], 100 + i));
        args.push_back(std::to_string(0x100000 + 0x20000 * i));
        args.push_back(path(name.c_str()));
    }
    LoaderRun run = loader(args);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    for (size_t i = 0; i < files.size(); ++i) {
        SCOPED_TRACE(sizes[i]);
        const auto at = flash->begin() + 0x100000 + 0x20000 * i;
        EXPECT_TRUE(std::equal(files[i].begin(), files[i].end(), at));
        // Padding to whole words is erased flash; the next byte was never written.
        EXPECT_EQ(at[files[i].size()], 0xFF);
    }
}

// --flash-size detect writes the size the flash reports into a bootloader's header, and
// verify-flash compares against the image patched the same way.
// The written bootloader is checked here from the flash file alone: the size field, and the
// SHA-256 at its end recomputed over the patched bytes (esptool recomputes an appended digest).
TEST_P(LoaderE2E, FlashSizeDetectPatchesTheDetectedSize) {
    if (chip() != "esp32c3") GTEST_SKIP() << "one chip is enough";
    esptools::testing::TestImage spec; // an ESP32-C3 bootloader, 2MB in its header
    spec.chip_id = 5;
    spec.entry = 0x403CE000;
    spec.size_and_freq = 0x1F;
    spec.segments = {{0x3FCD5000, esptools::testing::firmwareLikeBytes(3000, 1)},
                     {0x403CE000, esptools::testing::firmwareLikeBytes(9000, 2)}};
    std::vector<uint8_t> image = esptools::testing::buildTestImage(spec);
    const std::string bootloader = path("bootloader.bin");
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(bootloader, image)));
    LoaderRun run = loader({"write-flash", "--flash-size", "detect", "0x0", bootloader});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("Auto-detected flash size: 4MB"), std::string::npos) << run.out;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_EQ((*flash)[3], 0x2F) << "4MB in the header's size field, the frequency kept";
    const size_t body = image.size() - 32;
    for (size_t i = 0; i < body; ++i)
        if (i != 3) {
            ASSERT_EQ((*flash)[i], image[i]) << "byte " << i << " changed";
        }
    auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(flash->data(), body));
    EXPECT_TRUE(std::equal(digest.begin(), digest.end(), flash->begin() + body))
        << "the appended SHA-256 does not cover the patched header";
    run = loader({"verify-flash", "--flash-size", "detect", "0x0", bootloader});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("digest matched"), std::string::npos) << run.out;
}

// The chip stops answering for longer than the write timeout, so a block is sent again and answered
// twice. The second answer must not pass for the next block's: the host would run ahead of the
// stub, which drops a block it has no buffer for and then refuses the sequence gap. Real time at
// 2 Mbaud with compressible data, so that the stub is slower than the link, as on a loaded host.
TEST_P(LoaderE2E, ALateAnswerIsNotTakenForTheNextBlocks) {
    if (!viaStub() || chip() != "esp32c3") GTEST_SKIP() << "one chip is enough (3 s in real time)";
    std::vector<uint8_t> data = esptools::testing::firmwareLikeBytes(400000, 11);
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("firmware.bin"), data)));
    LoaderRun run = loader({"--baud", "2000000", "write-flash", "0x10000", path("firmware.bin")},
                           port("&timing=1&stall_after=60000&stall_ms=3000"));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
}

TEST_P(LoaderE2E, VerifyDiffListsAChangedByte) {
    if (chip() == "esp8266") GTEST_SKIP() << "the ESP8266 ROM has no MD5 or flash read";
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
    if (chip() == "esp8266") GTEST_SKIP() << "the ESP8266 ROM has no MD5 to check against";
    auto data = randomFile("data.bin", 64 << 10, 3);
    // 1% of the chip's bytes are damaged; towards the chip, the same 5% chance of a damaged
    // block whether blocks are the ROM's 1 KiB or the stub's 16 KiB.
    std::string damage = viaStub() ? "&corrupt=0.01&corrupt_in=0.000003&seed=11"
                                   : "&corrupt=0.01&corrupt_in=0.00005&seed=11";
    // Traced, so that the requests sent can be counted: the damaged link must have cost resends
    // (else this test would pass without the recovery it is about).
    auto requests = [](const std::string &out) {
        size_t count = 0;
        for (size_t at = out.find("--- Cmd "); at != std::string::npos;
             at = out.find("--- Cmd ", at + 1))
            ++count;
        return count;
    };
    // --write-all: the second write must send its data again, not find it already in flash.
    LoaderRun clean = loader({"--trace", "write-flash", "--write-all", "0x0", path("data.bin")});
    ASSERT_EQ(clean.exit_code, 0) << clean.err;
    LoaderRun run =
        loader({"--trace", "write-flash", "--write-all", "0x0", path("data.bin")}, port(damage));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_GT(requests(run.out), requests(clean.out)) << "no request was sent again";
    run = loader({"verify-flash", "0x0", path("data.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

size_t countOf(const std::string &text, const std::string &what) {
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++count;
    return count;
}

// write-flash asks the chip which sectors already hold the file and writes only the others; the
// answer comes from the flash itself, so a sector changed behind the host's back is rewritten.
TEST_P(LoaderE2E, RewritesOnlyTheSectorsTheFlashDoesNotHold) {
    if (chip() == "esp8266") GTEST_SKIP() << "the ESP8266 ROM has no MD5 to compare sectors with";
    auto data = randomFile("app.bin", 16 * 4096 - 100, 7); // the last sector partly erased
    LoaderRun run = loader({"write-flash", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(run.out.find("unchanged"), std::string::npos) << run.out; // blank flash: all differ

    run = loader({"write-flash", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("16 of 16 sectors unchanged, skipped."), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find("Wrote "), std::string::npos) << run.out;

    data[5000] ^= 1;  // sector 1
    data[40000] ^= 1; // sector 9
    data[44000] ^= 1; // sector 10: one run with sector 9
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("app.bin"), data)));
    run = loader({"write-flash", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("13 of 16 sectors unchanged, skipped."), std::string::npos) << run.out;
    EXPECT_EQ(countOf(run.out, "Wrote 4096 bytes"), 1u) << run.out;
    EXPECT_EQ(countOf(run.out, "Wrote 8192 bytes"), 1u) << run.out;
    EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
    EXPECT_EQ(loader({"verify-flash", "0x10000", path("app.bin")}).exit_code, 0);

    // A sector changed by another write is found by its digest, not by what the host remembers.
    ASSERT_FALSE(
        bool(esptools::cli::writeFileAtomically(path("zeros.bin"), std::vector<uint8_t>(4096, 0))));
    ASSERT_EQ(loader({"write-flash", "0x13000", path("zeros.bin")}).exit_code, 0);
    run = loader({"write-flash", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("15 of 16 sectors unchanged, skipped."), std::string::npos) << run.out;
    EXPECT_EQ(loader({"verify-flash", "0x10000", path("app.bin")}).exit_code, 0);

    run = loader({"write-flash", "--write-all", "0x10000", path("app.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(run.out.find("unchanged"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("Wrote 65436 bytes"), std::string::npos) << run.out;
}

// Through the ROM, a file's erased tail is not sent (FLASH_BEGIN's erase covers it); what was in
// the flash there before is gone all the same.
TEST_P(LoaderE2E, AnErasedTailIsErasedNotSent) {
    if (chip() == "esp8266") GTEST_SKIP() << "the ESP8266 ROM has no MD5 to verify with";
    randomFile("old.bin", 64 << 10, 21);
    ASSERT_EQ(loader({"write-flash", "0x20000", path("old.bin")}).exit_code, 0);
    auto data = randomFile("new.bin", 10000, 22);
    data.resize(64 << 10, 0xFF);
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("new.bin"), data)));
    LoaderRun run = loader({"write-flash", "--write-all", "0x20000", path("new.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(run.out.find("bytes are erased (0xFF)") != std::string::npos, !viaStub()) << run.out;
    EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
    std::string flash = readText(flash_);
    ASSERT_GE(flash.size(), 0x30000u);
    EXPECT_EQ(0, std::memcmp(flash.data() + 0x20000, data.data(), data.size()));
}

// READ_FLASH_SLOW replies carry no checksum: a byte damaged on the way must not reach the file.
TEST_P(LoaderE2E, ReadFlashThroughTheRomNeverReturnsDamagedBytes) {
    if (viaStub() || chip() != "esp32c3")
        GTEST_SKIP()
            << "one chip's ROM READ_FLASH_SLOW is enough (a damaged reply costs a timeout)";
    auto data = randomFile("data.bin", 24 << 10, 12);
    ASSERT_EQ(loader({"write-flash", "0x10000", path("data.bin")}).exit_code, 0);
    LoaderRun run = loader({"read-flash", "0x10000", "0x6000", path("back.bin")},
                           port("&corrupt=0.001&seed=5"));
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("differs from the chip's MD5 of it; reading it again"),
              std::string::npos)
        << "no damaged piece was seen, so the test proved nothing: " << run.err;
    auto back = esptools::cli::readFile(path("back.bin"));
    ASSERT_TRUE(bool(back));
    EXPECT_TRUE(*back == data) << "read-flash returned damaged data with success";
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

TEST_P(LoaderE2E, ErasesARegionAndTheWholeFlash) {
    auto data = randomFile("data.bin", 64 << 10, 9);
    ASSERT_EQ(loader({"write-flash", "0x0", path("data.bin")}).exit_code, 0);
    LoaderRun run = loader({"erase-region", "0x4000", "0x4000"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    for (size_t i = 0; i < data.size(); ++i)
        ASSERT_EQ((*flash)[i], i >= 0x4000 && i < 0x8000 ? 0xFF : data[i]) << "at " << i;
    run = loader({"erase-flash"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::all_of(flash->begin(), flash->end(), [](uint8_t b) { return b == 0xFF; }));
}

// Partitions by name, from the table the chip holds (ESP-IDF parttool.py's commands).
TEST_P(LoaderE2E, ReadsWritesAndErasesPartitionsByName) {
    if (chip() != "esp32" && chip() != "esp32c3" && chip() != "esp32c6")
        GTEST_SKIP() << "the flash commands underneath are covered on every chip";
    const std::string csv = "nvs, data, nvs, , 0x6000,\nphy_init, data, phy, , 0x1000,\n"
                            "factory, app, factory, , 64K,\n";
    auto table = esptools::formats::PartitionTable::fromCsv(
        std::vector<uint8_t>(csv.begin(), csv.end()), {});
    ASSERT_TRUE(bool(table)) << llvm::toString(table.takeError());
    auto binary = table->toBinary();
    ASSERT_TRUE(bool(binary));
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("table.bin"), *binary)));
    auto app = randomFile("app.bin", 64 << 10, 21);
    ASSERT_EQ(
        loader({"write-flash", "0x8000", path("table.bin"), "0x10000", path("app.bin")}).exit_code,
        0);

    auto nvs = randomFile("nvs.bin", 5000, 22);
    LoaderRun run = loader({"write-partition", "nvs", path("nvs.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(nvs.begin(), nvs.end(), flash->begin() + 0x9000));

    run = loader({"read-partition", "factory", path("factory.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_EQ(esptools::cli::readFile(path("factory.bin")).get(), app);

    run = loader({"erase-partition", "nvs"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::all_of(flash->begin() + 0x9000, flash->begin() + 0xF000,
                            [](uint8_t b) { return b == 0xFF; }));
    EXPECT_TRUE(std::equal(app.begin(), app.end(), flash->begin() + 0x10000));

    // A file larger than its partition is refused before anything is written.
    randomFile("big.bin", 0x7000, 23);
    run = loader({"write-partition", "nvs", path("big.bin")});
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.err.find("is 28672 bytes, but partition 'nvs' at 0x9000 holds 24576 bytes"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(esptools::cli::readFile(flash_).get(), *flash);
    run = loader({"read-partition", "spiffs", path("none.bin")});
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.err.find("no partition named 'spiffs' in the table at 0x8000 (it has: nvs, "
                           "phy_init, factory)"),
              std::string::npos)
        << run.err;
    run = loader({"erase-partition", "--partition-table-offset", "0x20000", "nvs"});
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.err.find("at 0x20000"), std::string::npos) << run.err;
}

TEST_P(LoaderE2E, AFailedFlashProgramFailsTheWrite) {
    if (chip() == "esp8266") GTEST_SKIP() << "the ESP8266 ROM reports no program failure";
    randomFile("data.bin", 64 << 10, 4);
    LoaderRun run =
        loader({"write-flash", "0x0", path("data.bin")}, port("&fail_program_at=0x9000"));
    EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
    if (viaStub()) { // the stub's own code for a failed write, reported on the next block
        EXPECT_NE(run.err.find("stopped at 0x"), std::string::npos) << run.err;
        EXPECT_NE(run.err.find("Failed SPI operation"), std::string::npos) << run.err;
    } else { // the ROM does not check its writes; the MD5 after the write finds the damage
        EXPECT_NE(run.err.find("MD5 of file does not match data in flash"), std::string::npos)
            << run.err;
    }
}

TEST_P(LoaderE2E, LoadRamRefusesToOverwriteTheRunningStub) {
    if (!viaStub()) GTEST_SKIP() << "needs the stub in RAM";
    // The stub's text start, from the stub the loader uploads.
    std::string json = readText(std::string(ESPTOOLS_STUB_DIR) + "/" + chip() + ".json");
    size_t key = json.find("\"text_start\"");
    ASSERT_NE(key, std::string::npos);
    uint32_t text_start = uint32_t(std::stoul(json.substr(json.find(':', key) + 1)));
    // An image of this chip of one 16-byte segment at that address, its entry there too.
    esptools::testing::TestImage spec;
    spec.chip_id = esptools::chipdb::findChip(chip())->image_chip_id;
    spec.entry = text_start;
    spec.segments = {{text_start, std::vector<uint8_t>(16, 0x13)}}; // RISC-V nops
    std::vector<uint8_t> image = esptools::testing::buildTestImage(spec);
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("overlap.bin"), image)));
    LoaderRun run = loader({"load-ram", path("overlap.bin")});
    EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
    EXPECT_NE(run.err.find("stub"), std::string::npos) << run.err;
    // Without the stub the same image loads.
    run = loader({"--no-stub", "load-ram", path("overlap.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

// A stub from --stub-dir is used as given; a damaged one is refused by file name before anything
// is uploaded, and a good copy of ours works the same as the embedded one.
TEST_P(LoaderE2E, StubsFromAStubDirAreCheckedAndUsed) {
    if (!viaStub()) GTEST_SKIP() << "about the stub";
    std::string json = readText(std::string(ESPTOOLS_STUB_DIR) + "/" + chip() + ".json");
    ASSERT_FALSE(json.empty());
    llvm::SmallString<128> stubs = dir_;
    llvm::sys::path::append(stubs, "stubs");
    ASSERT_FALSE(llvm::sys::fs::create_directory(stubs));
    llvm::SmallString<128> file_path = stubs;
    llvm::sys::path::append(file_path, chip() + ".json");
    const std::string file = file_path.str().str();
    auto run_with = [&](const std::string &contents) {
        std::ofstream(file, std::ios::trunc) << contents;
        return loader(
            {"--stub-dir", stubs.str().str(), "read-flash", "0", "0x100", path("out.bin")});
    };
    LoaderRun good = run_with(json);
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(good.out.find("Stub flasher running."), std::string::npos) << good.out;
    std::string bad_base64 = json;
    bad_base64[json.find("\"text\": \"") + 9] = '*';
    const std::string damaged_stubs[] = {json.substr(0, json.size() / 2), bad_base64, "[]"};
    for (const std::string &damaged : damaged_stubs) {
        LoaderRun bad = run_with(damaged);
        EXPECT_EQ(bad.exit_code, 2) << bad.out;
        EXPECT_NE(bad.err.find(file), std::string::npos) << bad.err;
        EXPECT_EQ(bad.out.find("Uploading stub flasher"), std::string::npos) << bad.out;
    }
}

TEST_P(LoaderE2E, RefusesToLoadAFlashMappedImageIntoRam) {
    if (chip() != "esp32c6") GTEST_SKIP() << "uses the ESP32-C6 test image";
    std::string image = std::string(ESPTOOLS_TEST_DATA_DIR) + "/inputs/esp32c6_app.bin";
    LoaderRun run = loader({"load-ram", image});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("flash-mapped segments"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("0x42000020"), std::string::npos) << run.err;
}

std::string targetName(const testing::TestParamInfo<Target> &info) {
    return std::string(info.param.chip) + (info.param.stub ? "_stub" : "_rom");
}

INSTANTIATE_TEST_SUITE_P(Rom, LoaderE2E,
                         testing::Values(Target{"esp8266", false}, Target{"esp32", false},
                                         Target{"esp32s2", false}, Target{"esp32s3", false},
                                         Target{"esp32c3", false}, Target{"esp32c6", false},
                                         Target{"esp32h2", false}, Target{"esp32p4", false}),
                         targetName);

INSTANTIATE_TEST_SUITE_P(Stub, LoaderE2E,
                         testing::Values(Target{"esp32c2", true}, Target{"esp32c3", true},
                                         Target{"esp32c5", true}, Target{"esp32c6", true},
                                         Target{"esp32c61", true}, Target{"esp32h2", true},
                                         Target{"esp32h4", true}, Target{"esp32p4", true},
                                         Target{"esp32s31", true}),
                         targetName);

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
        llvm::sys::fs::remove(out); // not truncated by ExecuteAndWait
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
