#include "esptools/chipdb/chip.h"

#include <gtest/gtest.h>

#include <set>

using namespace esptools::chipdb;

TEST(ChipDb, FindsChipsByEveryEsptoolSpelling) {
    ASSERT_NE(findChip("esp32c3"), nullptr);
    EXPECT_EQ(findChip("ESP32-C3"), findChip("esp32c3"));
    EXPECT_EQ(findChip("esp32_s3"), findChip("esp32s3"));
    EXPECT_EQ(findChip("esp32-c3")->display_name, "ESP32-C3");
    EXPECT_EQ(findChip("esp33"), nullptr);
}

TEST(ChipDb, DetectionKeysAreUnique) {
    std::set<uint32_t> magics;
    std::set<uint16_t> ids;
    for (const auto &chip : allChips()) {
        if (chip.magic_value)
            EXPECT_TRUE(magics.insert(*chip.magic_value).second) << chip.name;
        else {
            ASSERT_TRUE(chip.image_chip_id.has_value()) << chip.name;
            EXPECT_TRUE(ids.insert(*chip.image_chip_id).second) << chip.name;
        }
    }
    EXPECT_EQ(findChipByMagic(0x00F01D83)->name, "esp32");
    EXPECT_EQ(findChipByImageId(5)->name, "esp32c3");
    EXPECT_EQ(findChipByImageId(0), nullptr); // ESP32 is found by its magic value
}

TEST(ChipDb, FlashEncodingsFollowEachChipsTables) {
    const auto &c6 = *findChip("esp32c6");
    EXPECT_EQ(flashFrequencyCode(c6, "80m"), 0x0);
    EXPECT_EQ(flashFrequencyName(c6, 0x0), "80m"); // first name with that code
    EXPECT_EQ(flashFrequencyCode(*findChip("esp32h2"), "48m"), 0xF);
    EXPECT_FALSE(flashFrequencyCode(*findChip("esp32h2"), "80m").has_value());
    EXPECT_EQ(flashSizeCode(*findChip("esp8266"), "1MB"), 0x20);
    EXPECT_EQ(flashSizeCode(*findChip("esp32"), "1MB"), 0x00);
    EXPECT_FALSE(flashSizeCode(*findChip("esp32"), "2MB-c1").has_value());
    EXPECT_EQ(flashModeCode("dout"), 3);
}

TEST(ChipDb, MemoryTypesListEveryMatchingRegionInMapOrder) {
    std::string_view names[8];
    size_t n = memoryTypes(*findChip("esp32"), 0x3FFB0000, names);
    ASSERT_EQ(n, 2u);
    EXPECT_EQ(names[0], "BYTE_ACCESSIBLE");
    EXPECT_EQ(names[1], "DRAM");
    EXPECT_TRUE(isFlashAddress(*findChip("esp32c3"), 0x42000020));
    EXPECT_FALSE(isFlashAddress(*findChip("esp32c3"), 0x3FC80000));
}

// The UART divider esp-loader and the virtual chip read is UART0's own (ESP-IDF uart_reg.h:
// UART_CLKDIV_REG / UART_CLKDIV_SYNC_REG at +0x14 from the UART's base), not an address inherited
// from another chip's description.
TEST(ChipDb, TheUartDividerIsInUart0sBlock) {
    for (const auto &chip : allChips()) {
        if (chip.cpu != Cpu::RiscV) continue;
        EXPECT_EQ(chip.uart_clkdiv_reg, chip.uart_base + 0x14) << chip.name;
    }
}
