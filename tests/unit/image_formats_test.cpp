#include "esptools/cli/cli.h"
#include "esptools/formats/flash_params.h"
#include "esptools/formats/ihex.h"
#include "esptools/formats/image.h"
#include "esptools/formats/uf2.h"
#include "esptools/imagegen/commands.h"
#include "test_image.h"

#include <boost/property_tree/json_parser.hpp>
#include <gtest/gtest.h>
#include <llvm/Support/FileSystem.h>

#include <sstream>

using namespace esptools;

namespace {

using esptools::testing::buildTestImage;
using esptools::testing::firmwareLikeBytes;
using esptools::testing::TestImage;

// An ESP32-C3 app as ESP-IDF lays it out: data in DRAM, code in IRAM (chip id 5, esptool's
// IMAGE_CHIP_ID for the C3).
std::vector<uint8_t> c3App() {
    TestImage spec;
    spec.chip_id = 5;
    spec.entry = 0x40380400;
    spec.segments = {{0x3FC88000, firmwareLikeBytes(300, 1)},
                     {0x40380000, firmwareLikeBytes(1200, 2)}};
    return buildTestImage(spec);
}

const chipdb::ChipDescription &chip(const char *name) {
    return *chipdb::findChip(name);
}

std::string failure(llvm::Expected<formats::Image> image) {
    if (image) return "";
    return llvm::toString(image.takeError());
}

} // namespace

TEST(ImageParse, ReadsSegmentsChecksumAndDigestOfAnEsp32App) {
    TestImage spec;
    spec.chip_id = 0;
    spec.entry = 0x4008c000;
    spec.segments = {{0x3FFB0000, firmwareLikeBytes(18, 3)},
                     {0x4008c000, firmwareLikeBytes(64, 4)}};
    auto bytes = buildTestImage(spec);
    auto image = formats::parseImage(bytes, chip("esp32"), "hello.bin");
    ASSERT_TRUE(bool(image)) << llvm::toString(image.takeError());
    ASSERT_EQ(image->segments.size(), 2u);
    EXPECT_EQ(image->segments[1].address, 0x4008c000u);
    // Where the second segment's header starts: after 24 bytes of image headers, the first
    // segment's header and its 18 bytes padded to 20.
    EXPECT_EQ(image->segments[1].file_offset, 24u + 8 + 20);
    EXPECT_TRUE(image->checksumValid());
    EXPECT_TRUE(image->digestValid());
}

TEST(ImageParse, EveryTruncationNamesTheFileAndOffset) {
    auto bytes = c3App();
    for (size_t length : {size_t(1), size_t(7), size_t(8), size_t(20), size_t(24), size_t(30),
                          bytes.size() / 2, bytes.size() - 1}) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + length);
        std::string message = failure(formats::parseImage(cut, chip("esp32c3"), "cut.bin"));
        EXPECT_NE(message.find("cut.bin"), std::string::npos)
            << "accepted an image cut to " << length << " bytes";
        EXPECT_NE(message.find("0x"), std::string::npos) << message;
    }
}

TEST(ImageParse, ReportsABadChecksumAndDigestWithoutFailing) {
    auto bytes = c3App();
    auto image = formats::parseImage(bytes, chip("esp32c3"), "hello.bin");
    ASSERT_TRUE(bool(image));
    bytes[image->segments[0].file_offset + 8] ^= 0x55; // a data byte of the first segment
    auto corrupted = formats::parseImage(bytes, chip("esp32c3"), "hello.bin");
    ASSERT_TRUE(bool(corrupted));
    EXPECT_FALSE(corrupted->checksumValid());
    EXPECT_FALSE(corrupted->digestValid());
}

TEST(ImageParse, RejectsBadMagicBadHashByteAndTooManySegments) {
    auto bytes = c3App();
    auto bad_magic = bytes;
    bad_magic[0] = 0x12;
    EXPECT_NE(failure(formats::parseImage(bad_magic, chip("esp32c3"), "x.bin")).find("magic"),
              std::string::npos);
    auto bad_hash = bytes;
    bad_hash[23] = 7;
    EXPECT_NE(failure(formats::parseImage(bad_hash, chip("esp32c3"), "x.bin")).find("hash"),
              std::string::npos);

    // 17 empty segments are well-formed but more than the ROM accepts.
    std::vector<uint8_t> many = {0xE9, 17, 0, 0, 0, 0, 0, 0};
    many.resize(24, 0);
    for (int i = 0; i < 17; ++i) many.insert(many.end(), 8, 0);
    many.resize((many.size() | 15) + 1, 0);
    EXPECT_NE(failure(formats::parseImage(many, chip("esp32c3"), "many.bin")).find("max 16"),
              std::string::npos);
    EXPECT_NE(failure(formats::parseImage({}, chip("esp32"), "empty.bin")).find("empty"),
              std::string::npos);
}

TEST(ImageParse, DetectsTheChipFromTheExtendedHeader) {
    TestImage s3;
    s3.chip_id = 9; // esptool's IMAGE_CHIP_ID for the S3
    s3.segments = {{0x3FC88000, firmwareLikeBytes(40, 5)}};
    auto detected = formats::detectImageChip(buildTestImage(s3), "s3.bin");
    ASSERT_TRUE(bool(detected));
    EXPECT_EQ((*detected)->name, "esp32s3");
    // An ESP8266 image has no extended header: byte 12 is a segment's length and byte 23 a data
    // byte, which here is neither a known chip id nor a valid hash flag.
    TestImage esp8266;
    std::vector<uint8_t> code = firmwareLikeBytes(0x1C, 6);
    code[7] = 0x09;
    esp8266.segments = {{0x40108000, code}};
    detected = formats::detectImageChip(buildTestImage(esp8266), "8266.bin");
    ASSERT_TRUE(bool(detected));
    EXPECT_EQ((*detected)->name, "esp8266");
}

TEST(ImageInfo, JsonCarriesTheSameFactsAsTheText) {
    TestImage spec;
    spec.chip_id = 13; // ESP32-C6
    spec.entry = 0x40860000;
    spec.flash_mode = 0; // qio
    spec.segments = {{0x40860000, firmwareLikeBytes(100, 7)},
                     {0x40870000, firmwareLikeBytes(60, 8)}};
    llvm::SmallString<128> path;
    ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("c6-image", "bin", path));
    ASSERT_FALSE(bool(cli::writeFileAtomically(path.str().str(), buildTestImage(spec))));
    std::string text;
    llvm::raw_string_ostream out(text);
    imagegen::CommandContext context{
        chipdb::findChip("esp32c6"), {path.str().str(), "--json"}, out};
    ASSERT_EQ(imagegen::runImageInfo(context), 0);
    llvm::sys::fs::remove(path);
    out.flush();
    // Parsed by an independent JSON reader (Boost.PropertyTree).
    boost::property_tree::ptree json;
    std::istringstream stream(text);
    ASSERT_NO_THROW(boost::property_tree::read_json(stream, json)) << text;
    EXPECT_EQ(json.get<std::string>("chip"), "esp32c6");
    EXPECT_EQ(json.get<uint64_t>("entry"), 0x40860000u);
    std::vector<uint64_t> addresses;
    for (const auto &segment : json.get_child("segments"))
        addresses.push_back(segment.second.get<uint64_t>("address"));
    EXPECT_EQ(addresses, (std::vector<uint64_t>{0x40860000, 0x40870000}));
    EXPECT_TRUE(json.get<bool>("checksum.valid"));
    EXPECT_TRUE(json.get<bool>("digest.valid"));
    EXPECT_EQ(json.get<std::string>("flash_mode"), "qio");
}

TEST(IntelHex, RoundTripsRegionsAndWritesEsptoolsLayout) {
    std::vector<formats::HexRegion> regions = {{0x1008, std::vector<uint8_t>(40, 0xAB)},
                                               {0xFFF8, std::vector<uint8_t>(16, 0x01)}};
    auto hex = formats::writeIntelHex(regions);
    std::string text(hex.begin(), hex.end());
    EXPECT_EQ(text.rfind(":020000040000FA\n", 0), 0u); // upper address record first, above 64 KiB
    EXPECT_NE(text.find(":10100800"),
              std::string::npos); // records start at the data, not 16-aligned
    EXPECT_NE(text.find(":020000040001F9\n"), std::string::npos); // a record never crosses 64 KiB
    EXPECT_EQ(text.substr(text.size() - 12), ":00000001FF\n");
    auto parsed = formats::parseIntelHex(hex, "x.hex");
    ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
    ASSERT_EQ(parsed->size(), 2u);
    EXPECT_EQ((*parsed)[0].address, 0x1008u);
    EXPECT_EQ((*parsed)[0].data, regions[0].data);
    EXPECT_EQ((*parsed)[1].data, regions[1].data);
}

TEST(IntelHex, ErrorsNameFileAndLine) {
    auto expectError = [](const std::string &text, const char *what) {
        std::vector<uint8_t> bytes(text.begin(), text.end());
        auto parsed = formats::parseIntelHex(bytes, "bad.hex");
        ASSERT_FALSE(parsed) << text;
        std::string message = llvm::toString(parsed.takeError());
        EXPECT_NE(message.find("bad.hex:2"), std::string::npos) << message;
        EXPECT_NE(message.find(what), std::string::npos) << message;
    };
    expectError(":00000001FF\n:00000001FF\n", "after the end");
    expectError(":020000040000FA\n:0400000001020304F0\n", "checksum");
    expectError(":020000040000FA\n:04000000010203\n", "length");
    expectError(":020000040000FA\nhello\n", "':'");
    expectError(":020000040000FA\n:00000009F7\n", "record type");
}

TEST(Uf2, BlocksCarryFamilyIdNumberingAndMd5PerInput) {
    std::vector<formats::HexRegion> regions = {{0x1000, std::vector<uint8_t>(4240, 0x11)},
                                               {0x8000, std::vector<uint8_t>(100, 0x22)}};
    auto uf2 = formats::writeUf2(regions, {0x1C5F21B0, true, 0});
    ASSERT_EQ(uf2.size(),
              11u * 512); // 10 blocks of 452 bytes for the first input, 1 for the second
    auto word = [&](size_t block, size_t offset) {
        return formats::readLE32(uf2.data() + block * 512 + offset);
    };
    EXPECT_EQ(word(0, 0), 0x0A324655u);
    EXPECT_EQ(word(0, 8), 0x00006000u); // family id and MD5 present
    EXPECT_EQ(word(0, 16), 452u);
    EXPECT_EQ(word(9, 12), 0x1000u + 9 * 452);
    EXPECT_EQ(word(9, 24), 10u); // blocks of the first input
    EXPECT_EQ(word(10, 20), 0u); // the second input is numbered on its own
    EXPECT_EQ(word(10, 24), 1u);
    EXPECT_EQ(word(10, 28), 0x1C5F21B0u);
    EXPECT_EQ(word(10, 508), 0x0AB16F30u);
}

TEST(FlashParams, PatchesOnlyAValidImageAtTheBootloaderOffset) {
    TestImage spec; // an ESP32 bootloader: loaded into RAM, flash parameters in the header
    spec.chip_id = 0;
    spec.entry = 0x40080400;
    spec.segments = {{0x3FFF0000, firmwareLikeBytes(200, 9)},
                     {0x40078000, firmwareLikeBytes(900, 10)}};
    auto bootloader = buildTestImage(spec);
    auto copy = bootloader;
    auto result = formats::patchFlashParams(copy, 0x1000, chip("esp32"), {"dout", "80m", "4MB"});
    ASSERT_TRUE(bool(result));
    EXPECT_EQ(copy[2], 3);
    EXPECT_EQ(copy[3], 0x2F);
    ASSERT_EQ(result->notes.size(), 2u);
    EXPECT_EQ(result->notes[0], "Flash parameters set to 0x032f.");
    EXPECT_EQ(result->notes[1], "SHA digest in image updated.");
    // The new digest covers the patched header: the last 32 bytes hash everything before them.
    auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(copy.data(), copy.size() - 32));
    EXPECT_TRUE(std::equal(digest.begin(), digest.end(), copy.end() - 32));

    auto elsewhere = bootloader;
    result = formats::patchFlashParams(elsewhere, 0x10000, chip("esp32"), {"dout", "80m", "4MB"});
    ASSERT_TRUE(bool(result));
    EXPECT_EQ(elsewhere, bootloader); // not at the bootloader offset: untouched

    std::vector<uint8_t> data = {0xE9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto before = data;
    result = formats::patchFlashParams(data, 0x1000, chip("esp32"), {"dout", "keep", "keep"});
    ASSERT_TRUE(bool(result));
    EXPECT_EQ(data, before); // starts with the magic byte but is no image
    ASSERT_EQ(result->warnings.size(), 1u);

    auto unknown = formats::patchFlashParams(copy, 0x1000, chip("esp32"), {"keep", "48m", "keep"});
    ASSERT_FALSE(unknown);
    EXPECT_NE(llvm::toString(unknown.takeError()).find("80m, 40m, 26m, 20m"), std::string::npos);
}
