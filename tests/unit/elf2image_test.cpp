#include "esptools/cli/cli.h"
#include "esptools/imagegen/elf2image.h"
#include "esptools/imagegen/elf_reader.h"

#include <gtest/gtest.h>
#include <llvm/Support/SHA256.h>

using namespace esptools;
using namespace esptools::imagegen;

namespace {

// ELF files built from tests/data/*.yaml.
std::vector<uint8_t> testInput(const std::string &name) {
    auto bytes = cli::readFile(std::string(ESPTOOLS_TEST_DATA_DIR) + "/inputs/" + name);
    EXPECT_TRUE(bool(bytes));
    return bytes ? *bytes : std::vector<uint8_t>{};
}

std::string errorText(llvm::Error error) {
    return llvm::toString(std::move(error));
}

} // namespace

TEST(ElfReader, RejectsAFileThatIsNotAnElfNamingIt) {
    std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', '\n'};
    auto elf = readElf(text, "notes.txt");
    ASSERT_FALSE(elf);
    std::string message = errorText(elf.takeError());
    EXPECT_NE(message.find("notes.txt"), std::string::npos);
    EXPECT_NE(message.find("not an ELF"), std::string::npos);
}

TEST(ElfReader, EveryTruncationIsAnErrorNeverACrash) {
    auto full = testInput("esp32c6_app.elf");
    ASSERT_GT(full.size(), 1000u);
    for (size_t length : {size_t(3), size_t(20), size_t(51), size_t(52), size_t(200),
                          full.size() / 2, full.size() - 1}) {
        std::vector<uint8_t> cut(full.begin(), full.begin() + length);
        auto elf = readElf(cut, "cut.elf");
        EXPECT_FALSE(elf) << "truncated to " << length << " bytes was accepted";
        if (!elf) {
            EXPECT_NE(errorText(elf.takeError()).find("cut.elf"), std::string::npos);
        }
    }
}

TEST(ElfReader, Rejects64BitAndBigEndianElfFiles) {
    auto bytes = testInput("esp32c6_app.elf");
    auto wide = bytes;
    wide[4] = 2; // ELFCLASS64
    auto elf = readElf(wide, "wide.elf");
    ASSERT_FALSE(elf);
    EXPECT_NE(errorText(elf.takeError()).find("32-bit"), std::string::npos);
    auto big = bytes;
    big[5] = 2; // ELFDATA2MSB
    elf = readElf(big, "big.elf");
    ASSERT_FALSE(elf);
    EXPECT_NE(errorText(elf.takeError()).find("little-endian"), std::string::npos);
}

TEST(ElfReader, RejectsAnElfForAnotherArchitectureThanTheChipsCpu) {
    auto file = testInput("esp32_app.elf"); // ElfInput points into these bytes
    auto elf = readElf(file, "app.elf");
    ASSERT_TRUE(bool(elf));
    EXPECT_FALSE(bool(checkElfMachine(*elf, *chipdb::findChip("esp32"), "app.elf")));
    auto error = checkElfMachine(*elf, *chipdb::findChip("esp32c3"), "app.elf");
    ASSERT_TRUE(bool(error));
    std::string message = errorText(std::move(error));
    EXPECT_NE(message.find("Xtensa"), std::string::npos);
    EXPECT_NE(message.find("ESP32-C3"), std::string::npos);
}

TEST(Elf2Image, RefusesSectionsOutsideTheChipsMemoryMap) {
    // Both are Xtensa chips, but ESP32's flash-mapped data window does not exist on an ESP8266.
    auto file = testInput("esp32_app.elf"); // ElfInput points into these bytes
    auto elf = readElf(file, "app.elf");
    ASSERT_TRUE(bool(elf));
    Elf2ImageOptions options;
    options.chip = chipdb::findChip("esp8266");
    options.input_name = "app.elf";
    auto image = elf2image(*elf, options);
    ASSERT_FALSE(image);
    std::string message = errorText(image.takeError());
    EXPECT_NE(message.find("app.elf"), std::string::npos);
    EXPECT_NE(message.find("outside ESP8266's memory map"), std::string::npos);
}

TEST(Elf2Image, PatchesTheElfSha256IntoTheAppDescriptor) {
    auto bytes = testInput("esp32c6_app.elf");
    auto elf = readElf(bytes, "c6.elf");
    ASSERT_TRUE(bool(elf));
    Elf2ImageOptions options;
    options.chip = chipdb::findChip("esp32c6");
    auto image = elf2image(*elf, options);
    ASSERT_TRUE(bool(image)) << errorText(image.takeError());
    auto elf_sha = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(bytes.data(), bytes.size()));
    ASSERT_GE(image->image.size(), 0xB0u + 32);
    EXPECT_TRUE(std::equal(elf_sha.begin(), elf_sha.end(), image->image.begin() + 0xB0));
    EXPECT_EQ(image->image[0], 0xE9);
    EXPECT_EQ(image->image[12], 13); // ESP32-C6 chip id in the extended header
    // The digest at the end covers everything before it.
    size_t length = image->image.size() - 32;
    auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(image->image.data(), length));
    EXPECT_TRUE(std::equal(digest.begin(), digest.end(), image->image.begin() + length));
}

TEST(Elf2Image, RejectsAnInvalidMmuPageSizeForAConfigurableChip) {
    auto file = testInput("esp32c6_app.elf"); // ElfInput points into these bytes
    auto elf = readElf(file, "c6.elf");
    ASSERT_TRUE(bool(elf));
    Elf2ImageOptions options;
    options.chip = chipdb::findChip("esp32c2"); // 16, 32 or 64 KB only
    options.flash_mmu_page_size = 0x2000;
    auto image = elf2image(*elf, options);
    ASSERT_FALSE(image);
    EXPECT_NE(errorText(image.takeError()).find("select from 16KB, 32KB, 64KB"), std::string::npos);
}

TEST(Elf2Image, SplitsEsp8266V1IntoARamFileAndAnIromFile) {
    auto file = testInput("esp8266_app.elf"); // ElfInput points into these bytes
    auto elf = readElf(file, "at.elf");
    ASSERT_TRUE(bool(elf));
    Elf2ImageOptions options;
    options.chip = chipdb::findChip("esp8266");
    auto image = elf2image(*elf, options);
    ASSERT_TRUE(bool(image)) << errorText(image.takeError());
    ASSERT_TRUE(image->irom_offset.has_value());
    EXPECT_EQ(*image->irom_offset, 0x1010u);
    EXPECT_EQ(esp8266FileName("at.elf-", *image->irom_offset), "at.elf-0x01010.bin");
    // Header as the reference documents it: 3 segments, qio, 1MB/40m, entry 0x40100004.
    std::vector<uint8_t> header(image->image.begin(), image->image.begin() + 8);
    EXPECT_EQ(header, (std::vector<uint8_t>{0xE9, 0x03, 0x00, 0x20, 0x04, 0x00, 0x10, 0x40}));
}

TEST(CliNumbers, AcceptPythonIntegerSyntaxAndSizeSuffixes) {
    EXPECT_EQ(*cli::parseInteger("4096"), 4096u);
    EXPECT_EQ(*cli::parseInteger("0x1000"), 4096u);
    EXPECT_EQ(*cli::parseInteger("0X10_00"), 4096u);
    EXPECT_EQ(*cli::parseInteger("0o10"), 8u);
    EXPECT_EQ(*cli::parseInteger("0b101"), 5u);
    EXPECT_EQ(*cli::parseInteger("0"), 0u);
    for (const char *bad : {"010", "", "0x", "12ab", "1__0", "_1", "0xg"}) {
        auto value = cli::parseInteger(bad);
        EXPECT_FALSE(value) << bad;
        if (!value) {
            llvm::consumeError(value.takeError());
        }
    }
    EXPECT_EQ(*cli::parseSize("64k"), 65536u);
    EXPECT_EQ(*cli::parseSize("2M"), 2u << 20);
    EXPECT_EQ(*cli::parseSize("0x10k"), 16u << 10);
    auto lower_m = cli::parseSize("1m");
    EXPECT_FALSE(lower_m);
    if (!lower_m) {
        llvm::consumeError(lower_m.takeError());
    }
    EXPECT_EQ(*cli::parseFlashSizeString("4MB"), 4u << 20);
}

TEST(CliSpelling, AcceptsBothSpellingsOfOptionsAndCommands) {
    EXPECT_EQ(cli::canonicalOption("--flash_mode"), "--flash-mode");
    EXPECT_EQ(cli::canonicalOption("--flash_mode=dio_x"), "--flash-mode=dio_x");
    EXPECT_EQ(cli::canonicalOption("-ff"), "--flash-freq");
    EXPECT_EQ(cli::canonicalOption("in_put.bin"), "in_put.bin");
    EXPECT_EQ(cli::canonicalCommand("image_info"), "image-info");
}
