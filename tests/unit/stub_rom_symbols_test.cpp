// The stub calls ROM routines at the addresses its stub/chips/<chip>/rom.ld gives; the virtual chip
// serves routines at the addresses the chip database gives. Both come from ESP-IDF's ROM linker
// scripts; this keeps them from drifting apart (a stub calling an address nobody serves would
// only show up as a hang on the virtual chip).
#include "esptools/chipdb/chip.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>

namespace {

using esptools::chipdb::RomRoutine;

std::optional<RomRoutine> routineFor(const std::string &symbol) {
    static const std::map<std::string, RomRoutine> kSymbols = {
        {"ets_delay_us", RomRoutine::DelayMicroseconds},
        {"esp_rom_spiflash_attach", RomRoutine::SpiFlashAttach},
        {"uart_tx_one_char", RomRoutine::UartTxOneChar},
        {"uart_rx_one_char", RomRoutine::UartRxOneChar},
        {"uart_tx_flush", RomRoutine::UartTxFlush},
        {"GetUartDevice", RomRoutine::GetUartDevice},
    };
    auto found = kSymbols.find(symbol);
    if (found == kSymbols.end()) return std::nullopt;
    return found->second;
}

// The chips with a stub/chips/<chip> directory that the virtual chip can run (RISC-V).
struct StubChip {
    std::filesystem::path dir;
    std::string name;
    const esptools::chipdb::ChipDescription *chip;
};
std::vector<StubChip> riscVStubChips() {
    const std::filesystem::path chips = std::filesystem::path(ESPTOOLS_SOURCE_DIR) / "stub/chips";
    std::vector<StubChip> found;
    for (const auto &entry : std::filesystem::directory_iterator(chips)) {
        const std::string name = entry.path().filename().string();
        const auto *chip = esptools::chipdb::findChip(name);
        EXPECT_NE(chip, nullptr) << "stub/chips/" << name << " is not a chip in the database";
        if (chip && chip->cpu == esptools::chipdb::Cpu::RiscV)
            found.push_back({entry.path(), name, chip});
    }
    EXPECT_GE(found.size(), 7u);
    return found;
}

TEST(StubRomSymbols, EveryRoutineAStubCallsIsServedAtTheSameAddress) {
    const std::regex assignment(R"(^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(0x[0-9A-Fa-f]+)\s*;)");
    for (const auto &[dir, name, chip] : riscVStubChips()) {
        std::ifstream script(dir / "rom.ld");
        ASSERT_TRUE(script) << name << "/rom.ld";
        std::string line;
        int symbols = 0;
        while (std::getline(script, line)) {
            std::smatch match;
            if (!std::regex_search(line, match, assignment)) continue;
            ++symbols;
            auto routine = routineFor(match[1]);
            ASSERT_TRUE(routine) << name << "/rom.ld calls " << match[1]
                                 << ", which the virtual chip does not serve";
            uint32_t address = uint32_t(std::stoul(match[2], nullptr, 16));
            bool served = false;
            for (const auto &function : chip->rom_functions)
                served |= function.routine == *routine && function.address == address;
            EXPECT_TRUE(served) << name << ": " << match[1] << " at " << match[2]
                                << " is not where the chip database serves it";
        }
        EXPECT_GT(symbols, 0) << name << "/rom.ld names no routine";
    }
}

// The register blocks a stub drives (its chip.h) are the ones the virtual chip models for that
// chip, and the stub commits a new UART divider exactly where the chip's UART needs it.
TEST(StubChipHeaders, RegisterBlocksAreTheChipDatabases) {
    const std::regex definition(R"(^#define\s+([A-Z_0-9]+)\s+(0x[0-9A-Fa-f]+)u?\s*$)");
    for (const auto &[dir, name, chip] : riscVStubChips()) {
        std::ifstream header(dir / "chip.h");
        ASSERT_TRUE(header) << name << "/chip.h";
        std::map<std::string, uint32_t> defined;
        std::string line;
        while (std::getline(header, line)) {
            std::smatch match;
            if (std::regex_search(line, match, definition))
                defined[match[1]] = uint32_t(std::stoul(match[2], nullptr, 16));
        }
        EXPECT_EQ(defined["UART_BASE"], chip->uart_base) << name;
        EXPECT_EQ(defined["SPI_BASE"], chip->spi.base) << name;
        EXPECT_EQ(defined.count("UART_REG_UPDATE_OFFSET") ? defined["UART_REG_UPDATE_OFFSET"] : 0,
                  chip->uart_reg_update)
            << name;
        // A stub that speaks USB-Serial-JTAG drives the block the virtual chip models, and takes
        // the ROM's console number for it from the same facts.
        if (defined.count("USB_SERIAL_JTAG_BASE")) {
            EXPECT_EQ(defined["USB_SERIAL_JTAG_BASE"], chip->usb_serial_jtag_base) << name;
            EXPECT_EQ(defined["USB_SERIAL_JTAG_CONSOLE"],
                      chip->rom_console.word.usb_serial_jtag_value)
                << name;
            const auto &before = chip->rom_console.word_before;
            if (before.address &&
                before.usb_serial_jtag_value != chip->rom_console.word.usb_serial_jtag_value) {
                EXPECT_EQ(defined["USB_SERIAL_JTAG_CONSOLE_BEFORE_V0_3"],
                          before.usb_serial_jtag_value)
                    << name;
            }
        } else {
            EXPECT_EQ(chip->rom_console.word.address, 0u)
                << name << ": the chip has a USB-Serial-JTAG console its stub does not speak";
        }
    }
}

} // namespace
