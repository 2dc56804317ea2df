// A SPI NOR flash chip as the virtual chip's SPI controller sees it. Behaviour follows common
// 25-series parts (GigaDevice GD25Q32/GD25Q64 datasheets): status registers 1-3 with WIP, WEL, QE
// and block-protect bits, volatile status writes after WEVSR (50h), non-volatile after WREN (06h),
// page program that only clears bits and wraps inside its 256-byte page, erase to 0xFF.
#pragma once

#include <llvm/Support/Error.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace esptools::vchip {

// A read's data phase: the dummy cycles before it and the lines it comes back on.
struct SpiDataPhase {
    unsigned dummy_cycles = 0;
    unsigned lines = 1;
};

class SpiFlash {
public:
    struct Config {
        uint32_t size = 4u << 20;
        uint32_t jedec_id = 0; // 0: manufacturer 0xC8, memory type 0x40, capacity log2(size)
        std::string
            backing_file; // contents + non-volatile status persist here; empty = memory only
        std::optional<uint32_t> fail_program_at; // fault injection: programming this address fails
    };

    enum class Result : uint8_t {
        Ok,
        Protected,
        WriteNotEnabled,
        Busy,
        OutOfRange,
        InjectedFailure
    };

    static llvm::Expected<std::unique_ptr<SpiFlash>> open(const Config &config);
    ~SpiFlash();

    uint32_t size() const;
    uint32_t jedecId() const;

    // One SPI transaction as the controller's user-command engine runs it: a command byte, an
    // optional address of address_bits, bytes sent (MOSI), and miso_length bytes returned. Handles
    // RDID 9Fh, RDSR 05h/35h/15h, WRSR 01h/31h/11h (01h with 2 bytes writes SR1+SR2), WREN 06h,
    // WRDI 04h, WEVSR 50h, SFDP 5Ah, READ 03h, PP 02h, SE 20h, BE32 52h, BE64 D8h, CE C7h/60h,
    // RSTEN 66h, RST 99h, DP B9h, RDP ABh, FAST_READ 0Bh, DUAL OUTPUT READ 3Bh, and on parts
    // above 16 MB EN4B B7h, EX4B E9h and the 4-byte READ 13h, FAST_READ 0Ch, DUAL OUTPUT READ
    // 3Ch, PP 12h, SE 21h, BE32 5Ch, BE64 DCh; anything else is ignored and reads 0xFF.
    // The data phase comes back on data_lines (1, 2 or 4) after dummy_cycles; a read whose
    // command expects other dummy cycles or lines returns bits that are not the flash's data.
    std::vector<uint8_t> transact(uint8_t command, std::optional<uint32_t> address,
                                  unsigned address_bits, std::span<const uint8_t> mosi,
                                  size_t miso_length, SpiDataPhase data_phase = {});

    // What the ROM's flash routines do for one operation: WREN, the operation, wait for WIP.
    // The caller gives the address the part sees (the ROMs send 24 bits).
    Result eraseSector(uint32_t address);  // 4 KiB
    Result eraseBlock32(uint32_t address); // 32 KiB
    Result eraseBlock64(uint32_t address); // 64 KiB
    Result eraseChip();
    Result programPage(uint32_t address, std::span<const uint8_t> data); // wraps inside the page
    void read(uint32_t address, std::span<uint8_t> out); // charges the bus time of a READ

    uint8_t statusRegister(int index) const; // 0..2
    void powerCycle();                       // volatile status bits revert to non-volatile values

    // Datasheet-typical busy time of everything since the last call (timing model).
    std::chrono::microseconds takeBusyTime();
    // Time the commands since the last call spent on the SPI bus (timing model): what the code
    // waits for while the controller moves a read's data, apart from the part's busy time.
    std::chrono::nanoseconds takeTransferTime();
    // The bus clock code has set in the controller; 0: the ROM's 20 MHz.
    void setBusClock(uint32_t kilohertz);

    // Writes contents and non-volatile status to the backing file (also done by the destructor).
    llvm::Error flush();

private:
    struct State;
    Result programPageRaw(uint32_t address, std::span<const uint8_t> data); // WEL already set
    void readContents(uint32_t address, std::span<uint8_t> out) const;      // no bus time
    explicit SpiFlash(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

} // namespace esptools::vchip
