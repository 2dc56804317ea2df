// Times are the typical values of GigaDevice's GD25Q32C datasheet (rev 1.9, "AC characteristics"):
// page program tPP 0.6 ms (a shorter program: first byte tBP1 30 us + 2.5 us for each further byte
// tBP2, at most tPP), sector erase tSE 50 ms, 32 KB block erase tBE1 0.15 s, 64 KB block erase
// tBE2 0.25 s, chip erase tCE 14 s (4 MB part; scaled by size here).
#include "spi_flash.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace esptools::vchip {
namespace {

constexpr uint32_t kPageSize = 256;
constexpr uint32_t kSectorSize = 0x1000;
constexpr uint32_t kThreeByteLimit = 1u << 24; // what 24 address bits reach
constexpr uint8_t kStatusBusy = 0x01;          // SR1 bit 0: WIP
constexpr uint8_t kStatusWriteEnable = 0x02;   // SR1 bit 1: WEL
constexpr uint8_t kSr2Complement = 0x40;       // SR2 bit 6: CMP
constexpr std::chrono::microseconds kPageProgram{600};
constexpr std::chrono::nanoseconds kFirstByteProgram{30'000};
constexpr std::chrono::nanoseconds kNextByteProgram{2'500};
constexpr std::chrono::microseconds kSectorErase{50'000};
constexpr std::chrono::microseconds kBlock32Erase{150'000};
constexpr std::chrono::microseconds kBlock64Erase{250'000};
constexpr std::chrono::microseconds kChipErasePerMiB{3'500'000};
// The bus clock: the ROMs' SPI_init(SLOWRD_MODE, 4), one data line at the 80 MHz source divided
// by 4 (esp-stub-lib src/target/esp32s3/src/flash.c, stub_target_spi_init: "Trimmed version of
// ROM SPI_init(SLOWRD_MODE, 4)", freqbits "precalculated for SPI_CLK_DIV(4)").
constexpr uint64_t kRomBusBitPicoseconds = 50'000; // 20 MHz

llvm::Error fileError(const std::string &path, const char *what) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s: %s", path.c_str(), what,
                                   std::strerror(errno));
}

} // namespace

struct SpiFlash::State {
    Config config;
    uint8_t *contents = nullptr; // mapped backing file, or owned memory
    std::vector<uint8_t> memory;
    int fd = -1;
    uint8_t status[3] = {0, 0, 0}; // what the chip uses now
    uint8_t nonvolatile_status[3] = {0, 0, 0};
    bool volatile_write_enabled = false; // WEVSR (50h) was the last enable
    bool deep_power_down = false;
    bool four_byte_mode = false; // B7h: the 3-byte commands take 4-byte addresses until E9h
    std::chrono::microseconds busy{0};
    uint64_t bit_picoseconds = kRomBusBitPicoseconds; // the bus clock's period
    uint64_t transfer_picoseconds = 0;                // on the bus, not yet taken

    void clockBits(uint64_t bits) { transfer_picoseconds += bits * bit_picoseconds; }

    ~State() {
        if (fd >= 0) {
            ::msync(contents, config.size, MS_SYNC);
            ::munmap(contents, config.size);
            ::close(fd);
        }
    }

    // GD25Qxx block protection (CMP = 0): BP2..BP0 select the top (TB = 0) or bottom (TB = 1)
    // 1/64 .. 1/2 of the array, 111 all of it; SEC = 1 protects 4..32 KB instead. CMP inverts.
    bool isProtected(uint32_t address) const {
        uint8_t bp = (status[0] >> 2) & 7;
        bool bottom = status[0] & 0x20;
        bool sector = status[0] & 0x40;
        bool complement = status[1] & kSr2Complement;
        bool covered = false;
        if (bp == 7) {
            covered = true;
        } else if (bp != 0) {
            uint32_t length = sector ? std::min<uint32_t>(kSectorSize << (bp - 1), 0x8000)
                                     : config.size >> (7 - bp);
            covered = bottom ? address < length : address >= config.size - length;
        }
        return covered != complement && (bp != 0 || complement);
    }

    SpiFlash::Result startWrite(uint32_t address, uint32_t length) {
        if (uint64_t(address) + length > config.size) return Result::OutOfRange;
        if (!(status[0] & kStatusWriteEnable)) return Result::WriteNotEnabled;
        for (uint64_t a = address; a < uint64_t(address) + length; a += kSectorSize)
            if (isProtected(static_cast<uint32_t>(a))) {
                status[0] &= ~kStatusWriteEnable;
                return Result::Protected;
            }
        return Result::Ok;
    }

    SpiFlash::Result erase(uint32_t address, uint32_t length, std::chrono::microseconds cost) {
        address &= ~(length - 1);
        Result result = startWrite(address, length);
        if (result != Result::Ok) return result;
        std::memset(contents + address, 0xFF, length);
        busy += cost;
        status[0] &= ~kStatusWriteEnable; // WEL clears when the operation completes
        return Result::Ok;
    }

    void writeEnable(bool volatile_only) {
        status[0] |= kStatusWriteEnable;
        volatile_write_enabled = volatile_only;
    }

    void writeStatus(int first, std::span<const uint8_t> values) {
        if (!(status[0] & kStatusWriteEnable)) return;
        for (size_t i = 0; i < values.size() && first + i < 3; ++i) {
            uint8_t value = values[i];
            if (first + i == 0) value &= ~(kStatusBusy | kStatusWriteEnable); // read-only bits
            status[first + i] = value;
            if (!volatile_write_enabled) nonvolatile_status[first + i] = value;
        }
        status[0] &= ~kStatusWriteEnable;
        if (!volatile_write_enabled) saveStatus();
    }

    void saveStatus() {
        if (config.backing_file.empty()) return;
        std::string path = config.backing_file + ".status";
        if (FILE *file = std::fopen(path.c_str(), "wb")) {
            std::fwrite(nonvolatile_status, 1, 3, file);
            std::fclose(file);
        }
    }
};

SpiFlash::SpiFlash(std::unique_ptr<State> state) : state_(std::move(state)) {}
SpiFlash::~SpiFlash() = default;

llvm::Expected<std::unique_ptr<SpiFlash>> SpiFlash::open(const Config &config) {
    if (config.size < 0x10000 || (config.size & (config.size - 1)))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "flash size 0x%x is not a power of two of at least 64 KiB",
                                       config.size);
    auto state = std::make_unique<State>();
    state->config = config;
    if (state->config.jedec_id == 0) {
        uint32_t capacity = 0;
        while ((1u << capacity) < config.size) ++capacity;
        // GigaDevice GD25Q series up to GD25Q256 (C8 40 19); Winbond's W25Q512JV (EF 40 20) and
        // W25Q01JV (EF 40 21) above, whose capacity byte skips from 19h to 20h.
        state->config.jedec_id = capacity <= 25 ? 0xC8 | 0x40 << 8 | capacity << 16
                                                : 0xEF | 0x40 << 8 | (capacity + 6) << 16;
    }
    if (config.backing_file.empty()) {
        state->memory.assign(config.size, 0xFF);
        state->contents = state->memory.data();
    } else {
        const std::string &path = config.backing_file;
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return fileError(path, "cannot open the flash file");
        struct stat status {};
        ::fstat(fd, &status);
        if (status.st_size == 0) {
            // A new flash chip is erased.
            std::vector<uint8_t> erased(kSectorSize * 16, 0xFF);
            for (uint32_t offset = 0; offset < config.size; offset += erased.size())
                if (::pwrite(fd, erased.data(), erased.size(), offset) != ssize_t(erased.size())) {
                    ::close(fd);
                    return fileError(path, "cannot initialise the flash file");
                }
        } else if (uint64_t(status.st_size) != config.size) {
            ::close(fd);
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "%s: the flash file has %lld bytes but the flash is 0x%x bytes", path.c_str(),
                static_cast<long long>(status.st_size), config.size);
        }
        void *mapped = ::mmap(nullptr, config.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (mapped == MAP_FAILED) {
            ::close(fd);
            return fileError(path, "cannot map the flash file");
        }
        state->fd = fd;
        state->contents = static_cast<uint8_t *>(mapped);
        if (FILE *file = std::fopen((path + ".status").c_str(), "rb")) {
            if (std::fread(state->nonvolatile_status, 1, 3, file) != 3)
                std::memset(state->nonvolatile_status, 0, 3);
            std::fclose(file);
        }
    }
    std::memcpy(state->status, state->nonvolatile_status, 3);
    return std::unique_ptr<SpiFlash>(new SpiFlash(std::move(state)));
}

uint32_t SpiFlash::size() const {
    return state_->config.size;
}
uint32_t SpiFlash::jedecId() const {
    return state_->config.jedec_id;
}

// Parts above 16 MB (W25Q256JV, GD25Q256D datasheets) take the 3-byte commands with 24 address
// bits, which reach the first 16 MB only, unless B7h put them in 4-byte mode; the 4-byte commands
// 13h, 12h, 21h, 5Ch and DCh always take 32. The part reads an address MSB first, so a longer
// address phase than it expects leaves the low bits for it to take as data.
std::vector<uint8_t> SpiFlash::transact(uint8_t command, std::optional<uint32_t> address,
                                        unsigned address_bits, std::span<const uint8_t> mosi,
                                        size_t miso_length, SpiDataPhase data_phase) {
    State &s = *state_;
    const unsigned lines = std::max(data_phase.lines, 1u);
    s.clockBits(8 + (address ? address_bits : 0) + data_phase.dummy_cycles + 8 * mosi.size() +
                (8 * miso_length + lines - 1) / lines);
    std::vector<uint8_t> miso(miso_length, 0xFF);
    if (s.deep_power_down && command != 0xAB) return miso;
    const bool large = s.config.size > kThreeByteLimit;
    auto taken = [&](unsigned bits) -> std::optional<uint32_t> {
        if (!address || address_bits < bits) return std::nullopt;
        uint64_t value = uint64_t(*address) >> (address_bits - bits);
        return uint32_t(value & ((uint64_t(1) << bits) - 1));
    };
    const unsigned mode_bits = s.four_byte_mode ? 32 : 24;
    // READ takes its data on one line straight after the address, FAST_READ after 8 dummy
    // cycles, DUAL OUTPUT READ on two lines after 8 (W25Q32JV, GD25Q32C datasheets). Read with
    // another phase, the bits the controller samples are not the data: this model inverts them.
    auto read = [&](std::optional<uint32_t> at, unsigned dummy_cycles, unsigned data_lines) {
        if (!at) return;
        readContents(*at, miso);
        if (data_phase.dummy_cycles != dummy_cycles || lines != data_lines)
            for (uint8_t &byte : miso) byte = uint8_t(~byte);
    };
    switch (command) {
    case 0xB7:
    case 0xE9:
        if (large) s.four_byte_mode = command == 0xB7;
        break;
    case 0x13:
    case 0x0C:
    case 0x3C:
    case 0x12:
    case 0x21:
    case 0x5C:
    case 0xDC: {
        if (!large) break; // a 16 MB part has no 4-byte commands
        auto at = taken(32);
        if (!at) break;
        if (command == 0x13) read(at, 0, 1);
        if (command == 0x0C) read(at, 8, 1);
        if (command == 0x3C) read(at, 8, 2);
        if (command == 0x12) programPageRaw(*at, mosi);
        if (command == 0x21) s.erase(*at, kSectorSize, kSectorErase);
        if (command == 0x5C) s.erase(*at, 0x8000, kBlock32Erase);
        if (command == 0xDC) s.erase(*at, 0x10000, kBlock64Erase);
        break;
    }
    case 0x9F: // RDID
        for (size_t i = 0; i < miso_length && i < 3; ++i)
            miso[i] = uint8_t(s.config.jedec_id >> (8 * i));
        break;
    case 0x05:
        std::fill(miso.begin(), miso.end(), s.status[0]);
        break;
    case 0x35:
        std::fill(miso.begin(), miso.end(), s.status[1]);
        break;
    case 0x15:
        std::fill(miso.begin(), miso.end(), s.status[2]);
        break;
    case 0x06:
        s.writeEnable(false);
        break;
    case 0x50:
        s.writeEnable(true);
        break;
    case 0x04:
        s.status[0] &= ~kStatusWriteEnable;
        break;
    case 0x01:
        s.writeStatus(0, mosi.first(std::min<size_t>(mosi.size(), 2)));
        break;
    case 0x31:
        s.writeStatus(1, mosi.first(std::min<size_t>(mosi.size(), 1)));
        break;
    case 0x11:
        s.writeStatus(2, mosi.first(std::min<size_t>(mosi.size(), 1)));
        break;
    case 0x5A: { // SFDP: a minimal table whose signature the loader checks
        static constexpr uint8_t kSfdp[] = {'S', 'F', 'D', 'P', 0x06, 0x01, 0x00, 0xFF};
        uint32_t at = taken(24).value_or(0);
        for (size_t i = 0; i < miso_length; ++i)
            miso[i] = at + i < sizeof kSfdp ? kSfdp[at + i] : 0xFF;
        break;
    }
    case 0x03:
        read(taken(mode_bits), 0, 1);
        break;
    case 0x0B:
        read(taken(mode_bits), 8, 1);
        break;
    case 0x3B:
        read(taken(mode_bits), 8, 2);
        break;
    case 0x02:
        if (auto at = taken(mode_bits)) programPageRaw(*at, mosi);
        break;
    case 0x20:
        if (auto at = taken(mode_bits)) s.erase(*at, kSectorSize, kSectorErase);
        break;
    case 0x52:
        if (auto at = taken(mode_bits)) s.erase(*at, 0x8000, kBlock32Erase);
        break;
    case 0xD8:
        if (auto at = taken(mode_bits)) s.erase(*at, 0x10000, kBlock64Erase);
        break;
    case 0xC7:
    case 0x60:
        s.erase(0, s.config.size, kChipErasePerMiB * (s.config.size >> 20));
        break;
    case 0xB9:
        s.deep_power_down = true;
        break;
    case 0xAB:
        s.deep_power_down = false;
        break;
    default:
        break; // 66h/99h reset and anything unknown: no effect
    }
    return miso;
}

SpiFlash::Result SpiFlash::programPageRaw(uint32_t address, std::span<const uint8_t> data) {
    State &s = *state_;
    uint32_t page = address & ~(kPageSize - 1);
    Result result = s.startWrite(page, kPageSize);
    if (result != Result::Ok) return result;
    if (s.config.fail_program_at && *s.config.fail_program_at >= page &&
        *s.config.fail_program_at < page + kPageSize) {
        s.status[0] &= ~kStatusWriteEnable;
        return Result::InjectedFailure;
    }
    // Bytes past the end of the page wrap to its start; programming only clears bits.
    for (size_t i = 0; i < data.size(); ++i) {
        uint32_t target = page + ((address - page + i) % kPageSize);
        s.contents[target] &= data[i];
    }
    auto program_time =
        kFirstByteProgram + kNextByteProgram * (std::max<size_t>(data.size(), 1) - 1);
    s.busy +=
        std::min(std::chrono::duration_cast<std::chrono::microseconds>(program_time), kPageProgram);
    s.status[0] &= ~kStatusWriteEnable;
    return Result::Ok;
}

SpiFlash::Result SpiFlash::eraseSector(uint32_t address) {
    state_->writeEnable(false);
    return state_->erase(address, kSectorSize, kSectorErase);
}
SpiFlash::Result SpiFlash::eraseBlock32(uint32_t address) {
    state_->writeEnable(false);
    return state_->erase(address, 0x8000, kBlock32Erase);
}
SpiFlash::Result SpiFlash::eraseBlock64(uint32_t address) {
    state_->writeEnable(false);
    return state_->erase(address, 0x10000, kBlock64Erase);
}
SpiFlash::Result SpiFlash::eraseChip() {
    state_->writeEnable(false);
    return state_->erase(0, state_->config.size, kChipErasePerMiB * (state_->config.size >> 20));
}
SpiFlash::Result SpiFlash::programPage(uint32_t address, std::span<const uint8_t> data) {
    state_->clockBits(8 + 8 + 24 + 8 * data.size()); // WREN, then PP 02h
    state_->writeEnable(false);
    return programPageRaw(address, data);
}

void SpiFlash::read(uint32_t address, std::span<uint8_t> out) {
    state_->clockBits(8 + 24 + 8 * out.size()); // READ 03h, one data line
    readContents(address, out);
}

void SpiFlash::readContents(uint32_t address, std::span<uint8_t> out) const {
    for (size_t i = 0; i < out.size(); ++i) {
        uint64_t at = uint64_t(address) + i;
        out[i] = at < state_->config.size ? state_->contents[at] : 0xFF;
    }
}

uint8_t SpiFlash::statusRegister(int index) const {
    return state_->status[index];
}

void SpiFlash::powerCycle() {
    std::memcpy(state_->status, state_->nonvolatile_status, 3);
    state_->deep_power_down = false;
    state_->four_byte_mode = false;
}

std::chrono::microseconds SpiFlash::takeBusyTime() {
    auto busy = state_->busy;
    state_->busy = std::chrono::microseconds{0};
    return busy;
}

std::chrono::nanoseconds SpiFlash::takeTransferTime() {
    const uint64_t whole = state_->transfer_picoseconds / 1000;
    state_->transfer_picoseconds %= 1000;
    return std::chrono::nanoseconds(whole);
}

void SpiFlash::setBusClock(uint32_t kilohertz) {
    state_->bit_picoseconds = kilohertz ? 1'000'000'000ull / kilohertz : kRomBusBitPicoseconds;
}

llvm::Error SpiFlash::flush() {
    if (state_->fd >= 0 && ::msync(state_->contents, state_->config.size, MS_SYNC) != 0)
        return fileError(state_->config.backing_file, "cannot write the flash file");
    return llvm::Error::success();
}

} // namespace esptools::vchip
