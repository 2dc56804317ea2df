// What scripts and esptool's own tests read from esptool's output, and the checks esptool makes
// before it writes: the same words, the same refusals.
#include "loader_fixture.h"
#include "test_image.h"

#include <regex>

namespace {

using namespace loader_e2e;
using esptools::testing::buildTestImage;
using esptools::testing::firmwareLikeBytes;
using esptools::testing::TestImage;

class EsptoolCompat : public LoaderE2E {
protected:
    std::string image(const char *name, const TestImage &spec) {
        std::string file = path(name);
        EXPECT_FALSE(bool(esptools::cli::writeFileAtomically(file, buildTestImage(spec))));
        return file;
    }
};

TEST_P(EsptoolCompat, AnImageForAnotherChipIsRefusedUnlessForced) {
    TestImage s3;
    s3.chip_id = 9; // ESP32-S3
    s3.segments = {{0x3FC88000, firmwareLikeBytes(64, 1)}};
    std::string file = image("s3.bin", s3);
    auto before = randomFile("before.bin", 4096, 12);
    ASSERT_EQ(loader({"write-flash", "0x10000", path("before.bin")}).exit_code, 0);
    LoaderRun run = loader({"write-flash", "0x10000", file});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.out.find("Unexpected chip ID in image. Expected 5 but value was 9."),
              std::string::npos)
        << run.out;
    EXPECT_NE(run.err.find("'" + file + "' is not an ESP32-C3 image. Use the force argument"),
              std::string::npos)
        << run.err;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(before.begin(), before.end(), flash->begin() + 0x10000))
        << "the refused image was written";
    run = loader({"write-flash", "--force", "0x10000", file});
    EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_P(EsptoolCompat, AnImageOutsideItsChipRevisionsIsRefusedUnlessForced) {
    TestImage c3;
    c3.chip_id = 5;
    c3.min_revision_full = 255; // v2.55; the virtual chip is v0.0
    c3.segments = {{0x3FC88000, firmwareLikeBytes(64, 2)}};
    std::string file = image("c3.bin", c3);
    LoaderRun run = loader({"write-flash", "0x0", file});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("requires chip revision in range [v2.55 - max rev not set] (this chip "
                           "is revision v0.0). Use the force argument"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(loader({"write-flash", "--force", "0x0", file}).exit_code, 0);
}

// Without the full revision fields only the legacy byte counts, and on the ESP32-C3 it holds the
// minor revision: a v1.0 chip (minor 0) is below an image's legacy min_rev of 1.
TEST_P(EsptoolCompat, TheLegacyRevisionByteIsTheC3sMinorRevision) {
    TestImage c3;
    c3.chip_id = 5;
    c3.min_revision_full = 100; // legacy byte 1
    c3.max_revision_full = 0;   // no full fields
    c3.segments = {{0x3FC88000, firmwareLikeBytes(64, 13)}};
    std::string file = image("legacy.bin", c3);
    LoaderRun run = loader({"write-flash", "0x0", file}, port("&rev=100"));
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("requires chip revision 1 or higher (this chip is revision 0)"),
              std::string::npos)
        << run.err;
}

TEST_P(EsptoolCompat, DataThatDoesNotShrinkIsSentUncompressed) {
    auto data = randomFile("random.bin", 64 << 10, 3);
    LoaderRun run = loader({"write-flash", "--compress", "0x20000", path("random.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("will flash uncompressed"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("Wrote 65536 bytes at 0x00020000"), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find(" compressed)"), std::string::npos) << run.out;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), flash->begin() + 0x20000));
}

TEST_P(EsptoolCompat, MessagesScriptsLookFor) {
    randomFile("one.bin", 1024, 4);
    LoaderRun run = loader({"write-flash", "--erase-all", "0x1", path("one.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Detecting chip type... ESP32-C3"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("Flash memory erased successfully in "), std::string::npos) << run.out;
    run = loader({"write-flash", "0xfc00", path("one.bin")});
    EXPECT_NE(run.out.find("Flash address 0x0000fc00 is not aligned to a 0x1000 byte flash "
                           "sector. 0xc00 bytes before this address will be erased."),
              std::string::npos)
        << run.out;
    run = loader({"--chip", "esp32s3", "flash-id"});
    EXPECT_NE(run.err.find("This chip is ESP32-C3, not ESP32-S3. Wrong chip argument?"),
              std::string::npos)
        << run.err;
    run = loader(
        {"--before", "default_reset", "write_flash", "--flash_mode=keep", "0x0", path("one.bin")});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    for (const char *note :
         {"Deprecated: Command 'write_flash' is deprecated. Use 'write-flash' instead.",
          "Deprecated: Option '--flash_mode' is deprecated. Use '--flash-mode' instead.",
          "Deprecated: Choice 'default_reset' for option '--before' is deprecated."})
        EXPECT_NE(run.out.find(note), std::string::npos) << note << "\n" << run.out;
}

// JESD216: every SFDP table starts with the signature "SFDP".
TEST_P(EsptoolCompat, ReadsTheFlashsSfdpSignature) {
    LoaderRun run = loader({"read-flash-sfdp", "0", "4"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("SFDP[0..3]: 0x53 0x46 0x44 0x50"), std::string::npos) << run.out;
    run = loader({"read-flash-sfdp", "1", "3"});
    EXPECT_NE(run.out.find("SFDP[1..3]: 0x46 0x44 0x50"), std::string::npos) << run.out;
}

TEST_P(EsptoolCompat, SecurityInfoNamesTheKeyPurposes) {
    LoaderRun run = loader({"get-security-info"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Flags: 0x00000000 (0b0)"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("Key Purposes: [0, 0, 0, 0, 0, 0, 0]"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("  BLOCK_KEY5 - USER/EMPTY"), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find("BLOCK_KEY6"), std::string::npos) << "past EFUSE_MAX_KEY";
    EXPECT_NE(run.out.find("Chip ID: 5"), std::string::npos) << run.out;
}

TEST_P(EsptoolCompat, TraceLinesInEsptoolsFormat) {
    LoaderRun run = loader({"--trace", "flash-id"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    for (const char *pattern :
         {R"(TRACE \+\d\.\d{3}   --- Cmd READ_REG \(0x0a\) \| data_len 4 \| wait_response 1 )",
          R"(TRACE \+\d\.\d{3}   Write \d+ bytes:)", R"(TRACE \+\d\.\d{3}   Read \d+ bytes:)",
          R"(TRACE \+\d\.\d{3}   Received full packet: [0-9a-f]+)"})
        EXPECT_TRUE(std::regex_search(run.out, std::regex(pattern))) << pattern;
}

TEST_P(EsptoolCompat, LoadRamRefusesAnImageForAnotherChip) {
    TestImage c6;
    c6.chip_id = 13;
    c6.entry = 0x40800000;
    c6.segments = {{0x40800000, firmwareLikeBytes(64, 5)}};
    LoaderRun run = loader({"load-ram", image("c6.bin", c6)});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.err.find("is an image for ESP32-C6, not for the ESP32-C3"), std::string::npos)
        << run.err;
    EXPECT_EQ(run.out.find("Loading"), std::string::npos) << run.out;
}

// esptool v5.3's fast reflash: only the sectors that differ from the file the user names are
// written, and the MD5 check of the whole file catches a wrong assumption.
TEST_P(EsptoolCompat, DiffWithWritesOnlyTheChangedSectorsAndFallsBackWhenWrong) {
    auto old_data = randomFile("old.bin", 16384, 6);
    auto new_data = old_data;
    std::fill(new_data.begin(), new_data.begin() + 100, 0xBB);
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("new.bin"), new_data)));
    ASSERT_EQ(loader({"write-flash", "0x104", path("old.bin")}).exit_code, 0);
    LoaderRun run =
        loader({"write-flash", "0x104", path("new.bin"), "--diff-with", path("old.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Changed data sectors found, fast reflashing..."), std::string::npos);
    EXPECT_NE(run.out.find("Reflashing 1 changed sector at 0x00000000"), std::string::npos)
        << run.out;
    EXPECT_NE(run.out.find("Wrote 4096 bytes"), std::string::npos) << "more than one sector sent";
    EXPECT_NE(run.out.find("Hash of data verified."), std::string::npos) << run.out;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(new_data.begin(), new_data.end(), flash->begin() + 0x104));

    // The flash holds neither file: the changed sector alone does not make the new file, so the
    // check fails and the whole file is written.
    randomFile("other.bin", 16384, 7);
    ASSERT_EQ(loader({"write-flash", "0x20000", path("other.bin")}).exit_code, 0);
    run = loader({"write-flash", "0x20000", path("new.bin"), "--diff-with", path("old.bin"),
                  "--trust-flash-content"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Verification failed after fast reflash"), std::string::npos);
    EXPECT_NE(run.out.find("Reflashing the whole image"), std::string::npos) << run.out;
    flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(new_data.begin(), new_data.end(), flash->begin() + 0x20000));

    // Unchanged: checked by MD5 and left alone, or, trusted, not even checked.
    run = loader({"write-flash", "0x20000", path("new.bin"), "--diff-with", path("new.bin")});
    EXPECT_NE(run.out.find("'" + path("new.bin") + "' at 0x00020000 verified."), std::string::npos)
        << run.out;
    EXPECT_EQ(run.out.find("Wrote"), std::string::npos) << run.out;
    run = loader({"write-flash", "0x20000", path("new.bin"), "--diff-with", path("new.bin"),
                  "--trust-flash-content"});
    EXPECT_NE(run.out.find("skipping write and verification"), std::string::npos) << run.out;
}

TEST_P(EsptoolCompat, SkipFlashedAndTheSkipKeyword) {
    auto first = randomFile("first.bin", 8192, 8);
    auto second = randomFile("second.bin", 8192, 9);
    ASSERT_EQ(loader({"write-flash", "0x10000", path("first.bin")}).exit_code, 0);
    LoaderRun run = loader({"write-flash", "--skip-flashed", "0x10000", path("first.bin"),
                            "0x20000", path("second.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("'" + path("first.bin") +
                           "' at 0x00010000 already in flash, "
                           "skipping write."),
              std::string::npos)
        << run.out;
    EXPECT_NE(run.out.find("Wrote 8192 bytes"), std::string::npos) << "the second file is new";
    // 'skip' compares nothing for its file: that one is written whole.
    auto changed = first;
    changed[5000] ^= 0xFF;
    ASSERT_FALSE(bool(esptools::cli::writeFileAtomically(path("changed.bin"), changed)));
    run = loader({"write-flash", "0x10000", path("changed.bin"), "0x20000", path("second.bin"),
                  "--diff-with", path("first.bin"), "skip"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Reflashing 1 changed sector at 0x00011000"), std::string::npos)
        << run.out;
    EXPECT_NE(run.out.find("Wrote 8192 bytes"), std::string::npos) << run.out;
    auto flash = esptools::cli::readFile(flash_);
    ASSERT_TRUE(bool(flash));
    EXPECT_TRUE(std::equal(changed.begin(), changed.end(), flash->begin() + 0x10000));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), flash->begin() + 0x20000));
    run = loader({"write-flash", "--skip-flashed", "0x10000", path("first.bin"), "--diff-with",
                  path("first.bin")},
                 "/dev/esptools-no-such-port");
    EXPECT_NE(run.err.find("mutually exclusive"), std::string::npos) << run.err;
    run = loader({"write-flash", "--trust-flash-content", "0x10000", path("first.bin")},
                 "/dev/esptools-no-such-port");
    EXPECT_NE(run.err.find("requires --diff-with"), std::string::npos) << run.err;
}

// esptool's memory tests read and write 0x400C0000 and dump RTC memory at 0x50000000 on every
// chip but the P4; on silicon neither faults, through the ROM or a stub.
TEST_P(EsptoolCompat, ReadsAndWritesMemoryTheModelDoesNotHold) {
    LoaderRun run = loader({"write-mem", "0x400C0000", "0xabad1dea", "0x0000ffff"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Wrote 0xabad1dea with mask 0x0000ffff to 0x400c0000"),
              std::string::npos)
        << run.out;
    run = loader({"read-mem", "0X400C0000"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("0x400c0000 = "), std::string::npos) << run.out;
    run = loader({"dump-mem", "0x50000000", "128", path("rtc.bin")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("Dumped 128 bytes from 0x50000000"), std::string::npos) << run.out;
}

INSTANTIATE_TEST_SUITE_P(Chips, EsptoolCompat,
                         testing::Values(Target{"esp32c3", false}, Target{"esp32c3", true}),
                         [](const testing::TestParamInfo<Target> &info) {
                             return std::string(info.param.stub ? "esp32c3_stub" : "esp32c3_rom");
                         });

} // namespace
