#include "riscv_cpu.h"

#include "rom_routines.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <set>

#include <unicorn/unicorn.h>

#include <llvm/ADT/StringExtras.h>

namespace esptools::vchip {
namespace {

llvm::Error unicornError(const char *what, uc_err code) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", what,
                                   uc_strerror(code));
}

} // namespace

struct RiscVCore::Machine final : GuestMemory {
    Machine(const chipdb::ChipDescription &chip, Bus &bus)
        : chip(chip), bus(bus), routines(chip, bus, *this) {}
    Machine(const Machine &) = delete;
    Machine &operator=(const Machine &) = delete;

    const chipdb::ChipDescription &chip;
    Bus &bus;
    RomRoutines routines;
    uc_engine *uc = nullptr;
    uint32_t pc = 0;
    uint32_t return_address = 0;       // in the ROM window: reaching it means the entry returned
    uint32_t interrupt_return = 0;     // ... and here, that an interrupt handler returned
    std::optional<uint32_t> resume_at; // where a run stopped inside a served routine goes on
    std::string fault;
    chipdb::AddressRange rom_window{0, 0};
    bool idle = false;
    bool returned = false;
    bool software_reset = false;
    bool handler_returned = false;
    bool spinning = false;
    bool interrupt_check = false; // look for a raised line at the next block
    bool interrupt_due = false;   // the run stopped to take an interrupt
    uint64_t blocks = 0;
    uc_context *interrupted = nullptr; // the code's registers while a handler runs

    // Instructions run and not yet reported to the bus (the timing model charges them), and the
    // instruction count of each translated block (keyed by address and byte length).
    uint64_t unreported_cycles = 0;
    // A direct-mapped cache: a hash map lookup at every block cost a tenth of the emulation.
    struct CountedBlock {
        uint64_t key = ~0ull;
        uint32_t instructions = 0;
    };
    static constexpr size_t kCountedBlocks = 1 << 13;
    std::vector<CountedBlock> counted_blocks = std::vector<CountedBlock>(kCountedBlocks);
    std::array<uint8_t, 4096> block_code{};

    uint32_t instructionsIn(uint64_t address, uint32_t size) {
        const uint64_t key = address << 32 | size;
        CountedBlock &slot = counted_blocks[(address >> 1 ^ size) & (kCountedBlocks - 1)];
        if (slot.key == key) return slot.instructions;
        uint32_t count = 1;
        if (size <= block_code.size() &&
            uc_mem_read(uc, address, block_code.data(), size) == UC_ERR_OK) {
            // RISC-V lengths: low bits 11 mark a 32-bit instruction, anything else a compressed
            // one.
            count = 0;
            for (uint32_t at = 0; at < size; at += (block_code[at] & 3) == 3 ? 4 : 2) ++count;
        }
        slot = {key, count};
        return count;
    }

    // The host time a run may take: checked every 1024 blocks, not by unicorn's timeout, which
    // starts a thread for every run (and a paused chip starts thousands of runs a second).
    std::chrono::steady_clock::time_point deadline{};
    bool out_of_time = false;
    void reportCycles() {
        if (unreported_cycles) bus.retire(std::exchange(unreported_cycles, 0));
    }

    // Spin detection: code that loops with nothing changing waits for an interrupt.
    static constexpr uint64_t kQuietBlocks = 20000, kProbeBlocks = 4096;
    uint64_t quiet_blocks = 0; // basic blocks run since the last register access or ROM call
    std::map<uint32_t, std::array<uint32_t, 31>> probe; // block address -> registers there
    std::set<uint32_t> waiting_places;                  // blocks where the code spun before

    ~Machine() override {
        if (interrupted) uc_context_free(interrupted);
        if (uc) uc_close(uc);
    }

    bool read(uint32_t address, std::span<uint8_t> out) override {
        return uc_mem_read(uc, address, out.data(), out.size()) == UC_ERR_OK;
    }
    bool write(uint32_t address, std::span<const uint8_t> bytes) override {
        return uc_mem_write(uc, address, bytes.data(), bytes.size()) == UC_ERR_OK;
    }

    // Loads and stores on the chip's internal buses (0x20000000 to 0x7FFFFFFF: caches, RAM, ROM,
    // RTC memory, peripherals) that reach nothing this model holds: a register in the chip's
    // peripheral window reads 0 and ignores writes (so a self-clearing bit is clear at once);
    // anywhere else a page that reads as zeros and keeps what is written. A model choice: no
    // Espressif source lists which of these addresses fault on silicon, but esptool's own hardware
    // tests read and write 0x400C0000 and dump 0x50000000 through its stub on every chip but the
    // P4 (test_esptool.py TestMemoryOperations), so there they do not. Outside the buses, the
    // access faults.
    static bool onUnmappedData(uc_engine *uc, uc_mem_type, uint64_t address, int, int64_t,
                               void *user) {
        if (address < 0x20000000 || address > 0x7FFFFFFF) return false;
        const auto &window = static_cast<Machine *>(user)->chip.peripheral_registers;
        const uint64_t page = address & ~0xFFFull;
        if (address >= window.start && address < window.end)
            return uc_mmio_map(uc, page, 0x1000, &Machine::readsZero, nullptr,
                               &Machine::ignoresWrites, nullptr) == UC_ERR_OK;
        return uc_mem_map(uc, page, 0x1000, UC_PROT_READ | UC_PROT_WRITE) == UC_ERR_OK;
    }
    // A synchronous exception (illegal instruction, ecall): taken as the RISC-V privileged spec
    // says, so that the code's own trap handler runs, as on silicon (ESP-IDF's panic handler is
    // one). Unicorn 2 calls this with the PC already 4 past the instruction and without taking
    // the trap itself.
    static void onTrap(uc_engine *uc, uint32_t cause, void *user) {
        auto &machine = *static_cast<Machine *>(user);
        uint32_t pc = 0, mtvec = 0, mstatus = 0;
        uc_reg_read(uc, UC_RISCV_REG_PC, &pc);
        pc -= 4;
        uc_reg_read(uc, UC_RISCV_REG_MTVEC, &mtvec);
        // Exceptions go to the base in both mtvec modes (direct and vectored).
        const uint32_t handler = mtvec & ~3u;
        if (handler == 0 ||
            (handler >= machine.rom_window.start && handler < machine.rom_window.end)) {
            machine.fault = "CPU exception at pc 0x" + llvm::utohexstr(pc, true) + " (mcause " +
                            std::to_string(cause) + ": " + trapName(cause) +
                            "), and mtvec holds no handler of the code's";
            uc_emu_stop(uc);
            return;
        }
        uc_reg_read(uc, UC_RISCV_REG_MSTATUS, &mstatus);
        // MPIE takes MIE, MIE clears, MPP becomes machine mode (3).
        mstatus = (mstatus & ~(kMachineInterruptEnable | kPreviousInterruptEnable)) |
                  ((mstatus & kMachineInterruptEnable) ? kPreviousInterruptEnable : 0) |
                  kPreviousPrivilegeMachine;
        // MTVAL 0: the privileged spec lets a core write 0 for every exception. A core that
        // writes the faulting instruction's bits there instead differs only in what a dump shows.
        uint32_t zero = 0;
        uc_reg_write(uc, UC_RISCV_REG_MEPC, &pc);
        uc_reg_write(uc, UC_RISCV_REG_MCAUSE, &cause);
        uc_reg_write(uc, UC_RISCV_REG_MTVAL, &zero);
        uc_reg_write(uc, UC_RISCV_REG_MSTATUS, &mstatus);
        uc_reg_write(uc, UC_RISCV_REG_PC, &handler);
        machine.somethingHappened();
    }
    static const char *trapName(uint32_t cause) {
        switch (cause) { // the privileged spec's exception codes
        case 0:
            return "instruction address misaligned";
        case 1:
            return "instruction access fault";
        case 2:
            return "illegal instruction";
        case 3:
            return "breakpoint";
        case 4:
            return "load address misaligned";
        case 5:
            return "load access fault";
        case 6:
            return "store address misaligned";
        case 7:
            return "store access fault";
        case 11:
            return "environment call from M-mode";
        default:
            return "exception";
        }
    }
    static uint64_t readsZero(uc_engine *, uint64_t, unsigned, void *) { return 0; }
    static void ignoresWrites(uc_engine *, uint64_t, unsigned, uint64_t, void *) {}

    void somethingHappened() {
        interrupt_check = true; // a register access or a ROM call may have raised a line
        quiet_blocks = 0;
        if (!probe.empty()) probe.clear();
    }

    void stopIfIdle() {
        somethingHappened();
        if (bus.idle()) {
            idle = true;
            uc_emu_stop(uc);
        }
    }

    // At each basic block: after a long stretch with no register access and no ROM call, the
    // registers at each block are noted for a while; finding them again at the same block means
    // the code goes round a loop that changes nothing (polling a flag an interrupt handler sets).
    static void onBlock(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
        auto &m = *static_cast<Machine *>(user);
        m.unreported_cycles += m.instructionsIn(address, size);
        // An interrupt is taken between blocks, as soon after the event that raised it as this
        // model looks: after a register access or ROM call, and every 1024 blocks of plain code.
        if ((++m.blocks & 1023) == 0) {
            m.interrupt_check = true;
            if (std::chrono::steady_clock::now() >= m.deadline) {
                m.out_of_time = true;
                m.resume_at = uint32_t(address);
                uc_emu_stop(uc);
                return;
            }
        }
        if (m.interrupt_check) {
            m.interrupt_check = false;
            m.reportCycles(); // the lines raised by now
            if (m.deliverableLine()) {
                m.interrupt_due = true;
                m.resume_at = uint32_t(address);
                uc_emu_stop(uc);
                return;
            }
        }
        // A block where the code was found waiting before is watched at once: waiting loops
        // come back to the same place (a stub's main loop, between two interrupts).
        const bool known = m.waiting_places.count(uint32_t(address)) != 0;
        if (++m.quiet_blocks < kQuietBlocks && !known) return;
        if (m.quiet_blocks > kQuietBlocks + kProbeBlocks) return m.somethingHappened();
        std::array<int, 31> ids;
        std::array<uint32_t, 31> values;
        std::array<void *, 31> pointers;
        for (int i = 0; i < 31; ++i) ids[i] = UC_RISCV_REG_X1 + i, pointers[i] = &values[i];
        uc_reg_read_batch(uc, ids.data(), pointers.data(), 31);
        auto [seen, fresh] = m.probe.try_emplace(uint32_t(address), values);
        if (!fresh && seen->second == values) {
            m.waiting_places.insert(uint32_t(address));
            m.spinning = true;
            m.resume_at = uint32_t(address);
            uc_emu_stop(uc);
            return;
        }
        seen->second = values;
    }

    // Before each instruction in the ROM window: a known routine runs on the host, then the `ret`
    // planted there returns to the caller.
    static void onRomInstruction(uc_engine *uc, uint64_t address, uint32_t, void *user) {
        auto &machine = *static_cast<Machine *>(user);
        machine.reportCycles();
        machine.somethingHappened();
        if (address == machine.return_address) {
            machine.returned = true;
            uc_emu_stop(uc);
            return;
        }
        if (address == machine.interrupt_return && machine.interrupted) {
            machine.handler_returned = true;
            uc_emu_stop(uc);
            return;
        }
        for (const auto &function : machine.chip.rom_functions) {
            if (function.address != address) continue;
            std::array<uint32_t, 8> args;
            std::array<int, 8> ids;
            std::array<void *, 8> pointers;
            for (int i = 0; i < 8; ++i) ids[i] = UC_RISCV_REG_A0 + i, pointers[i] = &args[i];
            uc_reg_read_batch(uc, ids.data(), pointers.data(), 8);
            uint32_t stack = 0, ra = 0;
            uc_reg_read(uc, UC_RISCV_REG_SP, &stack);
            uc_reg_read(uc, UC_RISCV_REG_RA, &ra);
            auto outcome = machine.routines.call(function.routine, args, stack);
            if (!outcome) {
                machine.fault = llvm::toString(outcome.takeError());
                uc_emu_stop(uc);
                return;
            }
            uc_reg_write(uc, UC_RISCV_REG_A0, &outcome->result);
            if (outcome->cycles) machine.bus.retire(outcome->cycles);
            if (outcome->software_reset) {
                machine.software_reset = true;
                uc_emu_stop(uc);
                return;
            }
            // A run that stops here goes on at the caller, the routine done once.
            if (machine.bus.idle()) {
                machine.idle = true;
                machine.resume_at = ra;
                uc_emu_stop(uc);
            }
            return;
        }
        machine.fault = "the code called ROM address 0x" + llvm::utohexstr(address, true) +
                        ", which this virtual chip does not serve";
        uc_emu_stop(uc);
    }

    // An interrupt the code can take now (a raised line it unmasked and attached a handler to,
    // interrupts on) becomes a call of its handler; the code's registers wait until it returns.
    std::optional<unsigned> deliverableLine() {
        const InterruptTable &table = routines.interrupts();
        if (interrupted || table.locked) return std::nullopt;
        uint32_t armed = 0; // unmasked lines with a handler: without one, nothing to ask the bus
        for (unsigned line = 0; line < table.handlers.size(); ++line)
            if ((table.unmasked >> line & 1) && table.handlers[line].function) armed |= 1u << line;
        if (!armed) return std::nullopt;
        uint32_t mstatus = 0;
        uc_reg_read(uc, UC_RISCV_REG_MSTATUS, &mstatus);
        if (!(mstatus & kMachineInterruptEnable)) return std::nullopt;
        const uint32_t lines = bus.interruptLines() & armed;
        for (unsigned line = 0; line < table.handlers.size(); ++line)
            if (lines >> line & 1) return line;
        return std::nullopt;
    }

    bool enterInterrupt() {
        if (auto line = deliverableLine()) {
            const auto &handler = routines.interrupts().handlers[*line];
            if (uc_context_alloc(uc, &interrupted) != UC_ERR_OK) return false;
            uc_reg_write(uc, UC_RISCV_REG_PC, &pc);
            uc_context_save(uc, interrupted);
            // The ROM's vector saves the code's registers below its stack before the call.
            uint32_t sp = 0;
            uc_reg_read(uc, UC_RISCV_REG_SP, &sp);
            sp = (sp - kTrapFrame) & ~15u;
            uc_reg_write(uc, UC_RISCV_REG_SP, &sp);
            uc_reg_write(uc, UC_RISCV_REG_A0, &handler.argument);
            uc_reg_write(uc, UC_RISCV_REG_RA, &interrupt_return);
            pc = handler.function;
            somethingHappened();
            return true;
        }
        return false;
    }

    void leaveInterrupt() {
        uc_context_restore(uc, interrupted);
        uc_context_free(interrupted);
        interrupted = nullptr;
        uc_reg_read(uc, UC_RISCV_REG_PC, &pc);
        somethingHappened();
    }

    static constexpr uint32_t kMachineInterruptEnable = 1u << 3;    // mstatus.MIE
    static constexpr uint32_t kPreviousInterruptEnable = 1u << 7;   // mstatus.MPIE
    static constexpr uint32_t kPreviousPrivilegeMachine = 3u << 11; // mstatus.MPP = M
    static constexpr uint32_t kTrapFrame = 128;

    static uint64_t onRegisterRead(uc_engine *, uint64_t offset, unsigned size, void *user) {
        auto &[machine, base] = *static_cast<std::pair<Machine *, uint32_t> *>(user);
        uint32_t address = base + uint32_t(offset);
        machine->reportCycles(); // the access happens at the code's time
        uint32_t word = machine->bus.readRegister(address & ~3u);
        machine->stopIfIdle();
        return (word >> (8 * (address & 3))) & (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
    }

    static void onRegisterWrite(uc_engine *, uint64_t offset, unsigned size, uint64_t value,
                                void *user) {
        auto &[machine, base] = *static_cast<std::pair<Machine *, uint32_t> *>(user);
        uint32_t address = base + uint32_t(offset);
        machine->reportCycles();
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

    // RAM windows from the memory map, each mapped once; the ROM window is filled with returns.
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
    // c.jr ra in every halfword: some routines start at an odd halfword (ESP32-C5's
    // esp_rom_opiflash_exec_cmd_eco2 at 0x4002C42A), and each must return once served.
    for (size_t i = 0; i < returns.size(); i += 2) returns[i] = 0x82, returns[i + 1] = 0x80;
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
    uc_hook_add(uc, &hook, UC_HOOK_BLOCK, reinterpret_cast<void *>(&Machine::onBlock),
                machine.get(), 1, 0);
    uc_hook_add(uc, &hook, UC_HOOK_INTR, reinterpret_cast<void *>(&Machine::onTrap), machine.get(),
                1, 0);
    // The ROM calls the entry as a function, on its own stack near the top of DRAM.
    machine->pc = entry;
    machine->return_address = rom.start;
    machine->rom_window = rom;
    machine->interrupt_return = rom.start + 4;
    // The ROM loader runs with interrupts on (it takes its own input by interrupt).
    uint32_t mstatus = Machine::kMachineInterruptEnable;
    uc_reg_write(uc, UC_RISCV_REG_MSTATUS, &mstatus);
    if (auto error = machine->routines.initialise()) return error;
    uint32_t stack = (dram.end - 0x4000) & ~15u;
    uc_reg_write(uc, UC_RISCV_REG_SP, &stack);
    uc_reg_write(uc, UC_RISCV_REG_RA, &machine->return_address);
    return std::unique_ptr<RiscVCore>(new RiscVCore(std::move(machine)));
}

llvm::Expected<RiscVCore::Stop> RiscVCore::run(std::chrono::milliseconds budget) {
    Machine &m = *machine_;
    m.deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
        if (m.returned) return Stop::Returned;
        m.idle = m.spinning = m.handler_returned = m.interrupt_due = m.out_of_time = false;
        m.resume_at.reset();
        m.enterInterrupt();
        if (std::chrono::steady_clock::now() >= m.deadline) return Stop::OutOfTime;
        uc_err code = uc_emu_start(m.uc, m.pc, 0, 0, 0);
        m.reportCycles();
        uc_reg_read(m.uc, UC_RISCV_REG_PC, &m.pc);
        if (m.resume_at) m.pc = *m.resume_at;
        if (!m.fault.empty())
            return llvm::createStringError(llvm::inconvertibleErrorCode(), m.fault);
        if (code != UC_ERR_OK)
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "CPU fault at pc 0x%08x: %s", m.pc, uc_strerror(code));
        if (m.software_reset) return Stop::SoftwareReset;
        if (m.returned) return Stop::Returned;
        if (m.handler_returned) {
            m.leaveInterrupt();
            continue;
        }
        if (m.interrupt_due) continue;
        if (m.spinning) {
            if (m.bus.waitForInterrupt()) continue;
            return Stop::Idle;
        }
        if (m.idle) return Stop::Idle;
        if (m.out_of_time || std::chrono::steady_clock::now() >= m.deadline) return Stop::OutOfTime;
    }
}

} // namespace esptools::vchip
