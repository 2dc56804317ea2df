// The ROM routines code on the virtual chip may call, run on the host: the console, the SPI flash
// family, miniz's inflater, MD5, the libc copies, the interrupt table. Each does what the chip's
// ROM does to the code's memory and the chip's state (ESP-IDF components/esp_rom/include/<chip>/
// rom/*.h give the signatures); state the ROM keeps in the caller's structure is kept where the
// caller can see the part it relies on.
#pragma once

#include "esptools/chipdb/chip.h"

#include <llvm/Support/Error.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace esptools::vchip {

class Bus;

// What the ROM's MD5 and inflater cost the CPU per byte (hashed, or inflated output), for the
// timing model. MD5: this project's stub's md5_block (stub/core/md5.c, all 64 steps written out)
// is about 850 RV32IMC instructions per 64-byte block; the ROM's C is taken to be no faster.
// Inflate: an estimate, not measured (a Huffman decode or a match copy per output byte).
inline constexpr uint64_t kMd5CyclesPerByte = 14, kInflateCyclesPerByte = 12;

// The code's memory, as a routine reads and writes it; false where nothing is mapped.
class GuestMemory {
public:
    virtual ~GuestMemory() = default;
    virtual bool read(uint32_t address, std::span<uint8_t> out) = 0;
    virtual bool write(uint32_t address, std::span<const uint8_t> bytes) = 0;
};

// The ROM's interrupt table (ets_isr_attach, ets_isr_mask/unmask, ets_intr_lock/unlock).
struct InterruptTable {
    struct Handler {
        uint32_t function = 0, argument = 0;
    };
    std::array<Handler, 32> handlers{};
    uint32_t unmasked = 0;
    bool locked = false;
};

class RomRoutines {
public:
    RomRoutines(const chipdb::ChipDescription &chip, Bus &bus, GuestMemory &memory);
    ~RomRoutines();

    struct Outcome {
        uint32_t result = 0;         // a0 on return
        bool software_reset = false; // the chip resets: the code's run ends here
        uint64_t cycles = 0;         // what the routine would take on the chip's CPU
    };
    // `args` are a0..a7; `stack` is sp at the call (where further arguments lie). An error is a
    // call this model cannot complete as the ROM would, said in terms of the routine.
    llvm::Expected<Outcome> call(chipdb::RomRoutine routine, std::span<const uint32_t, 8> args,
                                 uint32_t stack);

    InterruptTable &interrupts() { return interrupts_; }

    // Sets up what the ROM leaves in RAM for code to find: its flash record.
    llvm::Error initialise();

private:
    struct Inflater;
    llvm::Expected<uint32_t> inflate(std::span<const uint32_t, 8> args);
    llvm::Expected<uint32_t> md5(chipdb::RomRoutine routine, std::span<const uint32_t, 8> args);
    llvm::Expected<uint32_t> flash(chipdb::RomRoutine routine, std::span<const uint32_t, 8> args,
                                   uint32_t stack);
    llvm::Expected<uint32_t> printf(std::span<const uint32_t, 8> args, uint32_t stack);
    llvm::Expected<uint32_t> copy(chipdb::RomRoutine routine, std::span<const uint32_t, 8> args);
    llvm::Error fault(const std::string &what) const;
    llvm::Expected<std::vector<uint8_t>> readGuest(uint32_t address, size_t size, const char *what);
    llvm::Error writeGuest(uint32_t address, std::span<const uint8_t> bytes, const char *what);
    llvm::Expected<uint32_t> readWord(uint32_t address, const char *what);
    llvm::Error writeFlashRecord(std::span<const uint32_t> fields, const char *what);

    const chipdb::ChipDescription &chip_;
    Bus &bus_;
    GuestMemory &memory_;
    InterruptTable interrupts_;
    // The inflater's state, for each decompressor the code has started (keyed by its address):
    // the code's structure holds only m_state, which tinfl_init zeroes to start over.
    std::map<uint32_t, std::unique_ptr<Inflater>> inflaters_;
    uint32_t putc_function_ = 0;   // ets_install_putc1's; 0: the ROM's UART output
    uint32_t flash_chip_size_ = 0; // esp_rom_spiflash_config_param's; 0: the part's own size
    uint32_t flash_record_ = 0;    // where the ROM's esp_rom_spiflash_chip_t lies; 0: none
    uint64_t cycles_ = 0;          // the current call's work on the chip's CPU
};

} // namespace esptools::vchip
