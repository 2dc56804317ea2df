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
    };
    auto found = kSymbols.find(symbol);
    if (found == kSymbols.end()) return std::nullopt;
    return found->second;
}

TEST(StubRomSymbols, EveryRoutineAStubCallsIsServedAtTheSameAddress) {
    const std::filesystem::path chips = std::filesystem::path(ESPTOOLS_SOURCE_DIR) / "stub/chips";
    const std::regex assignment(R"(^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(0x[0-9A-Fa-f]+)\s*;)");
    int checked_chips = 0;
    for (const auto &entry : std::filesystem::directory_iterator(chips)) {
        const std::string name = entry.path().filename().string();
        const auto *chip = esptools::chipdb::findChip(name);
        ASSERT_NE(chip, nullptr) << "stub/chips/" << name << " is not a chip in the database";
        if (chip->cpu != esptools::chipdb::Cpu::RiscV)
            continue; // the virtual chip runs RISC-V only
        std::ifstream script(entry.path() / "rom.ld");
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
        ++checked_chips;
    }
    EXPECT_GE(checked_chips, 7);
}

} // namespace
