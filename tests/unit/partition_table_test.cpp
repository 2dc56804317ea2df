// The partition table library beyond what check.sh compares with gen_esp32part.py: binary input
// that is damaged, flags a newer format may add, and lookups by name.
#include "esptools/formats/partition_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace esptools::formats;

namespace {

std::vector<uint8_t> bytesOf(const std::string &text) {
    return {text.begin(), text.end()};
}

std::vector<uint8_t> binaryOf(const std::string &csv, const PartitionTableOptions &options = {}) {
    auto table = PartitionTable::fromCsv(bytesOf(csv), options);
    EXPECT_TRUE(static_cast<bool>(table)) << llvm::toString(table.takeError());
    auto binary = table->toBinary();
    EXPECT_TRUE(static_cast<bool>(binary)) << llvm::toString(binary.takeError());
    return *binary;
}

const std::string kTwoRows = "nvs, data, nvs, , 0x6000,\nfactory, app, factory, , 1M,\n";

std::string errorOf(llvm::Expected<PartitionTable> table) {
    if (table) return "";
    return llvm::toString(table.takeError());
}

} // namespace

TEST(PartitionTable, BinaryRoundTripKeepsEveryField) {
    auto binary =
        binaryOf("nvs, data, nvs, , 0x6000,\nkeys, data, nvs_keys, , 4K, encrypted:readonly\n"
                 "factory, app, factory, , 1M,\n");
    ASSERT_EQ(binary.size(), kPartitionTableMaxBytes);
    auto table = PartitionTable::fromBinary(binary, {}, [](std::string) {});
    ASSERT_TRUE(static_cast<bool>(table)) << llvm::toString(table.takeError());
    ASSERT_EQ(table->partitions().size(), 3u);
    const Partition *keys = table->find("keys");
    ASSERT_NE(keys, nullptr);
    EXPECT_EQ(keys->offset, 0xF000u);
    EXPECT_EQ(keys->size, 0x1000u);
    EXPECT_TRUE(keys->encrypted);
    EXPECT_TRUE(keys->readonly);
    EXPECT_EQ(table->find("factory")->offset, 0x10000u);
    EXPECT_EQ(table->find("missing"), nullptr);
    EXPECT_EQ(*table->toBinary(), binary);
}

TEST(PartitionTable, DamagedMd5IsRefusedNamingTheEntry) {
    auto binary = binaryOf(kTwoRows);
    binary[2 * 32 + 20] ^= 1; // the MD5 entry follows the two rows
    std::string error = errorOf(PartitionTable::fromBinary(binary, {}, [](std::string) {}));
    EXPECT_NE(error.find("offset 0x40"), std::string::npos) << error;
    EXPECT_NE(error.find("MD5 checksums don't match"), std::string::npos) << error;

    binary = binaryOf(kTwoRows);
    binary[5] ^= 1; // a row changed after the digest was taken
    error = errorOf(PartitionTable::fromBinary(binary, {}, [](std::string) {}));
    EXPECT_NE(error.find("MD5 checksums don't match"), std::string::npos) << error;
}

TEST(PartitionTable, TableWithoutEndMarkerOrMagicIsRefused) {
    auto binary = binaryOf(kTwoRows);
    binary.resize(3 * 32); // two rows and the MD5 entry, no 0xFF row after them
    EXPECT_NE(errorOf(PartitionTable::fromBinary(binary, {}, [](std::string) {}))
                  .find("missing an end-of-table marker"),
              std::string::npos);
    binary = binaryOf(kTwoRows);
    binary[32] = 0x55;
    EXPECT_NE(errorOf(PartitionTable::fromBinary(binary, {}, [](std::string) {}))
                  .find("offset 0x20: Invalid magic bytes"),
              std::string::npos);
}

TEST(PartitionTable, UnknownFlagBitsAreKeptOutButReported) {
    PartitionTableOptions no_md5;
    no_md5.md5 = false;
    auto binary = binaryOf(kTwoRows, no_md5);
    binary[28] |= 0x10;
    std::vector<std::string> warnings;
    auto table = PartitionTable::fromBinary(binary, no_md5,
                                            [&](std::string text) { warnings.push_back(text); });
    ASSERT_TRUE(static_cast<bool>(table)) << llvm::toString(table.takeError());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("unknown flag(s) 0x00000010"), std::string::npos);
    EXPECT_FALSE(table->partitions()[0].encrypted);
}

TEST(PartitionTable, ValuesBeyondTheBinaryEntryAreRefusedNamingTheRow) {
    std::string error = errorOf(PartitionTable::fromCsv(bytesOf("x, 0x100, 0, 0x10000, 4K\n"), {}));
    EXPECT_NE(error.find("line 1"), std::string::npos) << error;
    EXPECT_NE(error.find("type 0x100"), std::string::npos) << error;
    error = errorOf(PartitionTable::fromCsv(bytesOf("x, data, nvs, 0x100000000, 64K\n"), {}));
    EXPECT_NE(error.find("offset 0x100000000"), std::string::npos) << error;
}
