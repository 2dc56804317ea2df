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
            auto routine = esptools::chipdb::romRoutineForSymbol(match[1].str());
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
        EXPECT_EQ(defined["UART_FIFO_COUNT_MASK"], chip->uart_fifo_count_mask) << name;
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

namespace {

// ORIGIN and LENGTH of a region in a stub's memory.ld.
esptools::chipdb::AddressRange memoryRegion(const std::filesystem::path &script,
                                            const std::string &region) {
    std::ifstream in(script);
    const std::regex line_form(
        "^\\s*" + region +
        R"(\s*\([A-Z]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*(0x[0-9A-Fa-f]+))");
    std::string line;
    while (std::getline(in, line)) {
        std::smatch match;
        if (std::regex_search(line, match, line_form)) {
            uint32_t origin = uint32_t(std::stoul(match[1], nullptr, 16));
            return {origin, origin + uint32_t(std::stoul(match[2], nullptr, 16))};
        }
    }
    ADD_FAILURE() << script << " has no " << region << " region";
    return {};
}

// A key of a committed stub's JSON: a number, or the byte count of a base64 string. (Found with
// plain searches: std::regex recurses per character and overflows the stack on the long strings.)
uint32_t stubField(const std::string &json, const std::string &key, bool base64_length) {
    const size_t at = json.find("\"" + key + "\"");
    EXPECT_NE(at, std::string::npos) << key;
    if (at == std::string::npos) return 0;
    size_t value = json.find_first_not_of(" \t\n:", json.find(':', at));
    if (!base64_length) return uint32_t(std::stoul(json.substr(value)));
    EXPECT_EQ(json[value], '"') << key;
    const size_t end = json.find('"', value + 1);
    const std::string text = json.substr(value + 1, end - value - 1);
    if (text.empty()) return 0;
    size_t padding = text.size() - text.find_last_not_of('=') - 1;
    return uint32_t(text.size() / 4 * 3 - padding);
}

} // namespace

// What esp-loader uploads (the committed JSON) lies inside the windows the stub was linked for; on
// the C2, C3 and C61 the code window ends where the data window begins in the same RAM.
TEST(StubChipHeaders, CommittedStubsFitTheirMemoryWindows) {
    for (const auto &[dir, name, chip] : riscVStubChips()) {
        std::ifstream in(std::filesystem::path(ESPTOOLS_SOURCE_DIR) / "stub/prebuilt" /
                         (name + ".json"));
        ASSERT_TRUE(in) << name;
        const std::string json((std::istreambuf_iterator<char>(in)), {});
        const auto iram = memoryRegion(dir / "memory.ld", "iram");
        const auto dram = memoryRegion(dir / "memory.ld", "dram");
        const uint32_t text_start = stubField(json, "text_start", false);
        const uint32_t text_end = text_start + stubField(json, "text", true);
        const uint32_t data_start = stubField(json, "data_start", false);
        const uint32_t data_end = data_start + stubField(json, "data", true);
        EXPECT_TRUE(iram.contains(text_start) && text_end <= iram.end)
            << name << ": code 0x" << std::hex << text_start << "..0x" << text_end;
        EXPECT_TRUE(data_end == data_start || (dram.contains(data_start) && data_end <= dram.end))
            << name << ": data 0x" << std::hex << data_start << "..0x" << data_end;
        if (name == "esp32c2" || name == "esp32c3" || name == "esp32c61") {
            EXPECT_LE(iram.end - iram.start, 0x4000u) << name;
        }
    }
}
