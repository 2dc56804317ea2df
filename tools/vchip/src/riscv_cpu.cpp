#include "riscv_cpu.h"

#include <algorithm>

#include <unicorn/unicorn.h>

#include <llvm/ADT/StringExtras.h>

namespace esptools::vchip {
namespace {

llvm::Error unicornError(const char *what, uc_err code) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", what,
                                   uc_strerror(code));
}

} // namespace

struct RiscVCore::Machine {
    Machine(const chipdb::ChipDescription &chip, Bus &bus) : chip(chip), bus(bus) {}
    Machine(const Machine &) = delete;
    Machine &operator=(const Machine &) = delete;

    const chipdb::ChipDescription &chip;
    Bus &bus;
    uc_engine *uc = nullptr;
    uint32_t pc = 0;
    uint32_t return_address = 0; // in the ROM window: reaching it means the entry returned
    std::string fault;
    bool idle = false;
    bool returned = false;

    ~Machine() {
        if (uc) uc_close(uc);
    }

    // Loads and stores on the chip's internal buses (0x20000000 to 0x7FFFFFFF: caches, RAM, ROM,
    // RTC memory, peripherals) that reach memory or a register this model does not hold get a
    // page that reads as zeros and keeps what is written. A model choice: no Espressif source
    // lists which of these addresses fault on silicon, but esptool's own hardware tests read and
    // write 0x400C0000 and dump 0x50000000 through its stub on every chip but the P4
    // (test_esptool.py TestMemoryOperations), so there they do not. Outside the buses, the access
    // faults.
    static bool onUnmappedData(uc_engine *uc, uc_mem_type, uint64_t address, int, int64_t, void *) {
        if (address < 0x20000000 || address > 0x7FFFFFFF) return false;
        return uc_mem_map(uc, address & ~0xFFFull, 0x1000, UC_PROT_READ | UC_PROT_WRITE) ==
               UC_ERR_OK;
    }

    void stopIfIdle() {
        if (bus.idle()) {
            idle = true;
            uc_emu_stop(uc);
        }
    }

    // Before each instruction in the ROM window: a known routine runs on the host, then the `ret`
    // planted there returns to the caller.
    static void onRomInstruction(uc_engine *uc, uint64_t address, uint32_t, void *user) {
        auto &machine = *static_cast<Machine *>(user);
        if (address == machine.return_address) {
            machine.returned = true;
            uc_emu_stop(uc);
            return;
        }
        for (const auto &function : machine.chip.rom_functions) {
            if (function.address != address) continue;
            uint32_t a0 = 0, result = 0;
            uc_reg_read(uc, UC_RISCV_REG_A0, &a0);
            switch (function.routine) {
            case chipdb::RomRoutine::UartTxOneChar:
                machine.bus.uartSend(uint8_t(a0));
                break;
            case chipdb::RomRoutine::UartRxOneChar:
                // uart_rx_one_char(uint8_t *out): 0 and the byte, or 1 when none has arrived.
                if (auto byte = machine.bus.uartReceive()) {
                    uint8_t value = *byte;
                    uc_mem_write(uc, a0, &value, 1);
                } else {
                    result = 1;
                    machine.stopIfIdle();
                }
                break;
            case chipdb::RomRoutine::UartTxFlush:
                break; // the UART model sends at line rate on its own
            case chipdb::RomRoutine::SpiFlashAttach:
                machine.bus.flashAttached();
                break;
            case chipdb::RomRoutine::GetUartDevice:
                result = machine.bus.uartDeviceAddress();
                if (!result) {
                    machine.fault = "the code asked for the ROM's UartDevice record, whose place "
                                    "in RAM no Espressif source gives for this chip";
                    uc_emu_stop(uc);
                    return;
                }
                break;
            case chipdb::RomRoutine::DelayMicroseconds:
                machine.bus.delay(a0);
                machine.stopIfIdle();
                break;
            }
            uc_reg_write(uc, UC_RISCV_REG_A0, &result);
            return;
        }
        machine.fault = "the code called ROM address 0x" + llvm::utohexstr(address, true) +
                        ", which this virtual chip does not serve";
        uc_emu_stop(uc);
    }

    static uint64_t onRegisterRead(uc_engine *, uint64_t offset, unsigned size, void *user) {
        auto &[machine, base] = *static_cast<std::pair<Machine *, uint32_t> *>(user);
        uint32_t address = base + uint32_t(offset);
        uint32_t word = machine->bus.readRegister(address & ~3u);
        machine->stopIfIdle();
        return (word >> (8 * (address & 3))) & (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
    }

    static void onRegisterWrite(uc_engine *, uint64_t offset, unsigned size, uint64_t value,
                                void *user) {
        auto &[machine, base] = *static_cast<std::pair<Machine *, uint32_t> *>(user);
        uint32_t address = base + uint32_t(offset);
        if (size < 4) { // a narrow store changes only its bytes of the register
            uint32_t shift = 8 * (address & 3), mask = ((1u << (8 * size)) - 1) << shift;
            uint32_t old = machine->bus.readRegister(address & ~3u);
            value = (old & ~mask) | ((uint32_t(value) << shift) & mask);
        }
        machine->bus.writeRegister(address & ~3u, uint32_t(value));
        machine->stopIfIdle();
    }

    std::vector<std::pair<Machine *, uint32_t>> pages; // callback contexts, one per page
};

std::string whyCannotExecute(const chipdb::ChipDescription &chip) {
    if (chip.cpu != chipdb::Cpu::RiscV)
        return std::string(chip.display_name) +
               " has an Xtensa CPU, which the virtual chip cannot emulate";
    if (chip.rom_functions.empty())
        return "the virtual " + std::string(chip.display_name) +
               " has no ROM routine table yet, so it cannot run code";
    return "";
}

RiscVCore::RiscVCore(std::unique_ptr<Machine> machine) : machine_(std::move(machine)) {}
RiscVCore::~RiscVCore() = default;

llvm::Expected<std::unique_ptr<RiscVCore>>
RiscVCore::create(const chipdb::ChipDescription &chip, std::span<const LoadedSegment> segments,
                  uint32_t entry, std::span<const uint32_t> peripherals, Bus &bus) {
    if (auto why = whyCannotExecute(chip); !why.empty())
        return llvm::createStringError(llvm::inconvertibleErrorCode(), why);
    auto machine = std::make_unique<Machine>(chip, bus);
    if (uc_err code = uc_open(UC_ARCH_RISCV, UC_MODE_RISCV32, &machine->uc); code != UC_ERR_OK)
        return unicornError("unicorn", code);
    uc_engine *uc = machine->uc;

    // RAM windows from the memory map, each mapped once; the ROM window is filled with `ret`.
    std::vector<chipdb::AddressRange> mapped;
    auto mapRange = [&](chipdb::AddressRange range) -> llvm::Error {
        uint32_t start = range.start & ~0xFFFu, end = (range.end + 0xFFF) & ~0xFFFu;
        for (const auto &done : mapped)
            if (start < done.end && end > done.start) return llvm::Error::success();
        if (uc_err code = uc_mem_map(uc, start, end - start, UC_PROT_ALL); code != UC_ERR_OK)
            return unicornError("mapping memory", code);
        mapped.push_back({start, end});
        return llvm::Error::success();
    };
    chipdb::AddressRange rom{0, 0}, dram{0, 0};
    for (const auto &region : chip.memory_map) {
        std::string_view name = region.name;
        if (name == "IRAM" || name == "DRAM")
            if (auto error = mapRange(region.range)) return error;
        if (name == "DRAM") dram = region.range;
        if (name == "IROM_MASK") rom = region.range;
    }
    if (chip.more_internal_ram.end)
        if (auto error = mapRange(chip.more_internal_ram)) return error;
    if (auto error = mapRange(rom)) return error;
    std::vector<uint8_t> returns((rom.end - rom.start + 3) / 4 * 4);
    for (size_t i = 0; i < returns.size(); i += 4) { // jalr x0, 0(ra)
        returns[i] = 0x67, returns[i + 1] = 0x80, returns[i + 2] = 0x00, returns[i + 3] = 0x00;
    }
    // The chip-detect "register" is a word of ROM contents, read by a stub's READ_REG too.
    if (chip.magic_value && chipdb::kChipDetectMagicRegister >= rom.start &&
        chipdb::kChipDetectMagicRegister + 4 <= rom.end)
        for (int i = 0; i < 4; ++i)
            returns[chipdb::kChipDetectMagicRegister - rom.start + i] =
                uint8_t(*chip.magic_value >> (8 * i));
    uc_mem_write(uc, rom.start, returns.data(), returns.size());

    machine->pages.reserve(peripherals.size());
    for (uint32_t page : peripherals) {
        // A register inside RAM or ROM (the chip-detect word sits in the ROM window) stays memory.
        if (std::any_of(mapped.begin(), mapped.end(), [page](const chipdb::AddressRange &range) {
                return page < range.end && page + 0x1000 > range.start;
            }))
            continue;
        machine->pages.emplace_back(machine.get(), page);
        if (uc_err code =
                uc_mmio_map(uc, page, 0x1000, &Machine::onRegisterRead, &machine->pages.back(),
                            &Machine::onRegisterWrite, &machine->pages.back());
            code != UC_ERR_OK)
            return unicornError("mapping peripheral registers", code);
    }

    for (const auto &segment : segments)
        if (uc_err code =
                uc_mem_write(uc, segment.address, segment.data.data(), segment.data.size());
            code != UC_ERR_OK)
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "segment at 0x%08x (%zu bytes) is outside the chip's RAM", segment.address,
                segment.data.size());

    uc_hook hook;
    uc_hook_add(uc, &hook, UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED,
                reinterpret_cast<void *>(&Machine::onUnmappedData), machine.get(), 1, 0);
    uc_hook_add(uc, &hook, UC_HOOK_CODE, reinterpret_cast<void *>(&Machine::onRomInstruction),
                machine.get(), rom.start, rom.end - 1);
    // The ROM calls the entry as a function, on its own stack near the top of DRAM.
    machine->pc = entry;
    machine->return_address = rom.start;
    uint32_t stack = (dram.end - 0x4000) & ~15u;
    uc_reg_write(uc, UC_RISCV_REG_SP, &stack);
    uc_reg_write(uc, UC_RISCV_REG_RA, &machine->return_address);
    return std::unique_ptr<RiscVCore>(new RiscVCore(std::move(machine)));
}

llvm::Expected<RiscVCore::Stop> RiscVCore::run(std::chrono::milliseconds budget) {
    Machine &m = *machine_;
    if (m.returned) return Stop::Returned;
    m.idle = false;
    uc_err code = uc_emu_start(m.uc, m.pc, 0, uint64_t(budget.count()) * 1000, 0);
    uc_reg_read(m.uc, UC_RISCV_REG_PC, &m.pc);
    if (!m.fault.empty()) return llvm::createStringError(llvm::inconvertibleErrorCode(), m.fault);
    if (code != UC_ERR_OK)
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "CPU fault at pc 0x%08x: %s",
                                       m.pc, uc_strerror(code));
    if (m.returned) return Stop::Returned;
    return m.idle ? Stop::Idle : Stop::OutOfTime;
}

} // namespace esptools::vchip
