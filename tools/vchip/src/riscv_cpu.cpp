#include "riscv_cpu.h"

#include <unicorn/unicorn.h>

#include <llvm/ADT/StringExtras.h>

#include <memory>

namespace esptools::vchip {
namespace {

llvm::Error unicornError(const char *what, uc_err code) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", what,
                                   uc_strerror(code));
}

struct Machine {
    const chipdb::ChipDescription &chip;
    const std::function<void(uint8_t)> &uart;
    std::string fault;
};

// Called before each instruction in the ROM window: a known routine runs on the host, then the
// `ret` planted there returns to the caller.
void onRomInstruction(uc_engine *uc, uint64_t address, uint32_t, void *user) {
    auto &machine = *static_cast<Machine *>(user);
    for (const auto &function : machine.chip.rom_functions) {
        if (function.address != address) continue;
        uint32_t a0 = 0, result = 0;
        uc_reg_read(uc, UC_RISCV_REG_A0, &a0);
        switch (function.routine) {
        case chipdb::RomRoutine::UartTxOneChar:
            machine.uart(uint8_t(a0));
            break;
        case chipdb::RomRoutine::UartRxOneChar:
            result = 1; // nothing arrives while code runs to completion: the ROM's "no byte"
            break;
        case chipdb::RomRoutine::UartTxFlush:
            break;
        case chipdb::RomRoutine::DelayMicroseconds:
            break; // virtual time: no wait
        }
        uc_reg_write(uc, UC_RISCV_REG_A0, &result);
        return;
    }
    machine.fault = "the code called ROM address 0x" + llvm::utohexstr(address, true) +
                    ", which this virtual chip does not serve";
    uc_emu_stop(uc);
}

} // namespace

std::string whyCannotExecute(const chipdb::ChipDescription &chip) {
    if (chip.cpu != chipdb::Cpu::RiscV)
        return std::string(chip.display_name) +
               " has an Xtensa CPU, which the virtual chip cannot emulate";
    if (chip.rom_functions.empty())
        return "the virtual " + std::string(chip.display_name) +
               " has no ROM routine table yet, so it cannot run code";
    return "";
}

llvm::Error runRiscV(const chipdb::ChipDescription &chip, std::span<const LoadedSegment> segments,
                     uint32_t entry, std::chrono::milliseconds budget,
                     const std::function<void(uint8_t)> &uart) {
    if (auto why = whyCannotExecute(chip); !why.empty())
        return llvm::createStringError(llvm::inconvertibleErrorCode(), why);
    uc_engine *raw = nullptr;
    if (uc_err code = uc_open(UC_ARCH_RISCV, UC_MODE_RISCV32, &raw); code != UC_ERR_OK)
        return unicornError("unicorn", code);
    std::unique_ptr<uc_engine, decltype(&uc_close)> uc(raw, &uc_close);

    // RAM windows from the memory map, each mapped once; the ROM window is filled with `ret`.
    std::vector<chipdb::AddressRange> mapped;
    auto mapRange = [&](chipdb::AddressRange range) -> llvm::Error {
        for (const auto &done : mapped)
            if (done.start == range.start) return llvm::Error::success();
        uint32_t start = range.start & ~0xFFFu, end = (range.end + 0xFFF) & ~0xFFFu;
        if (uc_err code = uc_mem_map(uc.get(), start, end - start, UC_PROT_ALL); code != UC_ERR_OK)
            return unicornError("mapping memory", code);
        mapped.push_back({start, end});
        return llvm::Error::success();
    };
    chipdb::AddressRange rom{0, 0};
    for (const auto &region : chip.memory_map) {
        std::string_view name = region.name;
        if (name == "IRAM" || name == "DRAM") {
            bool overlaps = false;
            for (const auto &done : mapped)
                overlaps |= region.range.start < done.end && region.range.end > done.start;
            if (!overlaps)
                if (auto error = mapRange(region.range)) return error;
        }
        if (name == "IROM_MASK") rom = region.range;
    }
    if (auto error = mapRange(rom)) return error;
    std::vector<uint8_t> returns((rom.end - rom.start + 3) / 4 * 4);
    for (size_t i = 0; i < returns.size(); i += 4) { // jalr x0, 0(ra)
        returns[i] = 0x67, returns[i + 1] = 0x80, returns[i + 2] = 0x00, returns[i + 3] = 0x00;
    }
    uc_mem_write(uc.get(), rom.start, returns.data(), returns.size());

    for (const auto &segment : segments)
        if (uc_err code =
                uc_mem_write(uc.get(), segment.address, segment.data.data(), segment.data.size());
            code != UC_ERR_OK)
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "segment at 0x%08x (%zu bytes) is outside the chip's RAM", segment.address,
                segment.data.size());

    Machine machine{chip, uart, ""};
    uc_hook hook;
    uc_hook_add(uc.get(), &hook, UC_HOOK_CODE, reinterpret_cast<void *>(&onRomInstruction),
                &machine, rom.start, rom.end - 1);
    uc_err code = uc_emu_start(uc.get(), entry, 0, uint64_t(budget.count()) * 1000, 0);
    if (!machine.fault.empty())
        return llvm::createStringError(llvm::inconvertibleErrorCode(), machine.fault);
    if (code != UC_ERR_OK) {
        uint32_t pc = 0;
        uc_reg_read(uc.get(), UC_RISCV_REG_PC, &pc);
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "CPU fault at pc 0x%08x: %s",
                                       pc, uc_strerror(code));
    }
    return llvm::Error::success();
}

} // namespace esptools::vchip
