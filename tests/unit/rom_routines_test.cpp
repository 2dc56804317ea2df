// The ROM routines the virtual chip serves sit where Espressif's linker scripts put them:
// tools/chipdb/rom/<chip>.ld holds those scripts' lines verbatim (regenerate.sh), and the chip
// database must say the same, address for address, in both directions.
#include "esptools/chipdb/chip.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace {

using esptools::chipdb::RomRoutine;

struct Script {
    std::multimap<std::string, uint32_t> symbols; // name -> address, hex assignments only
};

Script readScript(const std::filesystem::path &path) {
    const std::regex assignment(
        R"(^\s*(?:PROVIDE\s*\(\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(0x[0-9A-Fa-f]+)\s*\)?\s*;)");
    Script script;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch match;
        if (std::regex_search(line, match, assignment))
            script.symbols.emplace(match[1], uint32_t(std::stoul(match[2], nullptr, 16)));
    }
    return script;
}

TEST(RomRoutines, ServedWhereEspressifsLinkerScriptsPutThem) {
    const std::filesystem::path dir =
        std::filesystem::path(ESPTOOLS_SOURCE_DIR) / "tools/chipdb/rom";
    int chips = 0;
    for (const auto &chip : esptools::chipdb::allChips()) {
        if (chip.rom_functions.empty()) continue;
        ++chips;
        const auto path = dir / (std::string(chip.name) + ".ld");
        ASSERT_TRUE(std::filesystem::exists(path)) << path << ": run regenerate.sh";
        const Script script = readScript(path);
        std::set<std::pair<RomRoutine, uint32_t>> from_script;
        for (const auto &[symbol, address] : script.symbols) {
            if (symbol == "rom_spiflash_legacy_data") {
                EXPECT_EQ(chip.rom_flash_record_pointer, address) << chip.name << ": " << symbol;
                continue;
            }
            auto routine = esptools::chipdb::romRoutineForSymbol(symbol);
            ASSERT_TRUE(routine) << path << " names " << symbol
                                 << ", which the chip database cannot place";
            from_script.insert({*routine, address});
        }
        std::set<std::pair<RomRoutine, uint32_t>> from_database;
        for (const auto &function : chip.rom_functions)
            from_database.insert({function.routine, function.address});
        for (const auto &entry : from_script)
            EXPECT_TRUE(from_database.count(entry))
                << chip.name << ": routine " << int(entry.first) << " at 0x" << std::hex
                << entry.second << " is in " << path.filename() << " but not served there";
        for (const auto &entry : from_database)
            EXPECT_TRUE(from_script.count(entry))
                << chip.name << ": routine " << int(entry.first) << " served at 0x" << std::hex
                << entry.second << ", an address " << path.filename() << " does not give";
        EXPECT_TRUE(script.symbols.count("rom_spiflash_legacy_data"))
            << chip.name << ": the ROM's flash record pointer";
    }
    EXPECT_GE(chips, 10);
}

// What Espressif's flasher stubs (esptool v5.3.1's esp-flasher-stub and legacy stub, esptool-js
// 0.7's) call on every RISC-V chip over UART: a chip that lacks one cannot run them.
TEST(RomRoutines, EveryRiscVChipServesWhatEspressifsStubsCall) {
    const RomRoutine needed[] = {
        RomRoutine::UartTxOneChar,
        RomRoutine::UartTxFlush,
        RomRoutine::UartDivModify,
        RomRoutine::DelayMicroseconds,
        RomRoutine::SpiFlashAttach,
        RomRoutine::SpiFlashRead,
        RomRoutine::SpiFlashWrite,
        RomRoutine::SpiFlashEraseChip,
        RomRoutine::SpiFlashConfigParam,
        RomRoutine::SpiFlashWriteEncrypted,
        RomRoutine::Inflate,
        RomRoutine::InterruptAttach,
        RomRoutine::InterruptUnmask,
        RomRoutine::GetSecurityInfo,
    };
    // No Espressif source publishes the ESP32-E22's ROM symbols yet.
    const std::set<std::string, std::less<>> without_rom_symbols = {"esp32e22"};
    for (const auto &chip : esptools::chipdb::allChips()) {
        if (chip.cpu != esptools::chipdb::Cpu::RiscV) continue;
        if (without_rom_symbols.count(chip.name)) {
            EXPECT_TRUE(chip.rom_functions.empty()) << chip.name << ": update this test";
            continue;
        }
        std::set<RomRoutine> served;
        for (const auto &function : chip.rom_functions) served.insert(function.routine);
        for (RomRoutine routine : needed)
            EXPECT_TRUE(served.count(routine)) << chip.name << " lacks routine " << int(routine);
        EXPECT_TRUE(served.count(RomRoutine::Md5Update) ||
                    served.count(RomRoutine::MbedtlsMd5Update))
            << chip.name << " serves no MD5";
        EXPECT_NE(chip.rom_flash_record_pointer, 0u) << chip.name;
    }
}

} // namespace
