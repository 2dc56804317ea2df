#include "rom_routines.h"

#include "riscv_cpu.h"
#include "spi_flash.h"

#include <llvm/ADT/StringExtras.h>

#include <algorithm>
#include <cstring>

// The ROM's MD5 keeps its whole state in the caller's MD5Context; OpenSSL's MD5_CTX holds the same
// four things (chaining words, bit count, pending block, its length), so a call loads the one into
// the other and back. That low-level API is deprecated in OpenSSL 3 but kept.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>
#include <zlib.h>

namespace esptools::vchip {

using chipdb::RomRoutine;

namespace {

void store32(uint8_t *p, uint32_t value) {
    for (int i = 0; i < 4; ++i) p[i] = uint8_t(value >> (8 * i));
}
uint32_t load32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// esp_rom_spiflash_result_t (esp_rom_spiflash.h).
constexpr uint32_t kFlashOk = 0, kFlashError = 1;

// No chip has this much RAM: a length beyond it is a bad argument, refused before anything is
// allocated for it.
constexpr size_t kLargestGuestBlock = 16u << 20;

// miniz tinfl (ESP-IDF esp_rom/include/<chip>/rom/miniz.h): flags and status codes.
constexpr uint32_t kParseZlibHeader = 1, kHasMoreInput = 2;
constexpr int32_t kStatusFailedCannotMakeProgress = -4, kStatusFailed = -1, kStatusDone = 0,
                  kStatusNeedsMoreInput = 1, kStatusHasMoreOutput = 2;

// MD5Context (rom/md5_hash.h): buf[4], bits[2], in[64]. mbedtls_md5_context (the ESP32-C2's ROM
// MD5): total[2] in bytes, state[4], buffer[64].
constexpr size_t kMd5ContextSize = 88;

// The record's device_id: RDID's three bytes, manufacturer first (the capacity byte lowest), as
// esp-stub-lib's flash.c rebuilds it from SPI_MEM_FLASH_RDID's W0 (device_id_from_spi_rdid).
uint32_t deviceId(const SpiFlash &part) {
    const uint32_t rdid = part.jedecId(); // as sent: manufacturer, type, capacity
    return (rdid & 0xFF) << 16 | (rdid >> 8 & 0xFF) << 8 | (rdid >> 16 & 0xFF);
}

} // namespace

struct RomRoutines::Inflater {
    z_stream stream{};
    bool done = false;
    explicit Inflater(bool zlib_header) { inflateInit2(&stream, zlib_header ? 15 : -15); }
    ~Inflater() { inflateEnd(&stream); }
};

RomRoutines::RomRoutines(const chipdb::ChipDescription &chip, Bus &bus, GuestMemory &memory)
    : chip_(chip), bus_(bus), memory_(memory) {}
RomRoutines::~RomRoutines() = default;

// The record sits in the ROM's own data just below the pointer to it (a model choice: the ROM's
// .bss layout is not published). Until the code asks, it describes the part as attached.
llvm::Error RomRoutines::initialise() {
    if (!chip_.rom_flash_record_pointer) return llvm::Error::success();
    flash_record_ = (chip_.rom_flash_record_pointer - 0x20) & ~3u;
    uint8_t pointer[4];
    store32(pointer, flash_record_);
    if (auto error = writeGuest(chip_.rom_flash_record_pointer, pointer, "the ROM's flash record"))
        return error;
    SpiFlash &part = bus_.flash();
    const uint32_t fields[] = {deviceId(part), part.size(), 0x10000, 0x1000, 0x100, 0xFFFF};
    return writeFlashRecord(fields, "the ROM's flash record");
}

llvm::Error RomRoutines::writeFlashRecord(std::span<const uint32_t> fields, const char *what) {
    if (!flash_record_) return llvm::Error::success();
    std::vector<uint8_t> bytes(4 * fields.size());
    for (size_t i = 0; i < fields.size(); ++i) store32(&bytes[4 * i], fields[i]);
    return writeGuest(flash_record_, bytes, what);
}

llvm::Error RomRoutines::fault(const std::string &what) const {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), what);
}

llvm::Expected<std::vector<uint8_t>> RomRoutines::readGuest(uint32_t address, size_t size,
                                                            const char *what) {
    if (size > kLargestGuestBlock)
        return fault(std::string(what) + ": the code passed a length of " + std::to_string(size) +
                     " bytes, more than any chip's RAM");
    std::vector<uint8_t> bytes(size);
    if (size && !memory_.read(address, bytes))
        return fault(std::string(what) + ": the code passed 0x" + llvm::utohexstr(address) + " (" +
                     std::to_string(size) + " bytes), which is not memory");
    return bytes;
}

llvm::Error RomRoutines::writeGuest(uint32_t address, std::span<const uint8_t> bytes,
                                    const char *what) {
    if (bytes.empty() || memory_.write(address, bytes)) return llvm::Error::success();
    return fault(std::string(what) + ": the code passed 0x" + llvm::utohexstr(address) + " (" +
                 std::to_string(bytes.size()) + " bytes), which is not memory");
}

llvm::Expected<uint32_t> RomRoutines::readWord(uint32_t address, const char *what) {
    auto bytes = readGuest(address, 4, what);
    if (!bytes) return bytes.takeError();
    return load32(bytes->data());
}

llvm::Expected<RomRoutines::Outcome>
RomRoutines::call(RomRoutine routine, std::span<const uint32_t, 8> args, uint32_t stack) {
    Outcome outcome;
    cycles_ = 0;
    auto value = [&](llvm::Expected<uint32_t> result) -> llvm::Expected<Outcome> {
        if (!result) return result.takeError();
        outcome.result = *result;
        outcome.cycles = cycles_;
        return outcome;
    };
    const uint32_t a0 = args[0], a1 = args[1], a2 = args[2];
    switch (routine) {
    case RomRoutine::UartTxOneChar:
        bus_.uartSend(uint8_t(a0));
        return outcome;
    case RomRoutine::UartRxOneChar:
        // uart_rx_one_char(uint8_t *out): 0 and the byte, or 1 when none has arrived.
        if (auto byte = bus_.uartReceive()) {
            if (auto error =
                    writeGuest(a0, std::span<const uint8_t>(&*byte, 1), "uart_rx_one_char"))
                return error;
        } else {
            outcome.result = 1;
        }
        return outcome;
    case RomRoutine::UartTxFlush:
        return outcome; // the UART model sends at line rate on its own
    case RomRoutine::UartTxWaitIdle:
        bus_.waitTransmitIdle();
        return outcome;
    case RomRoutine::UartDivModify:
        bus_.setUartDivider(a1);
        return outcome;
    case RomRoutine::GetUartDevice:
        outcome.result = bus_.uartDeviceAddress();
        if (!outcome.result)
            return fault("the code asked for the ROM's UartDevice record, whose place in RAM no "
                         "Espressif source gives for this chip");
        return outcome;
    case RomRoutine::Printf:
        return value(printf(args, stack));
    case RomRoutine::InstallPutc1:
        putc_function_ = a0;
        return outcome;
    case RomRoutine::DelayMicroseconds:
        bus_.delay(a0);
        return outcome;
    case RomRoutine::SoftwareReset:
        outcome.software_reset = true;
        return outcome;
    case RomRoutine::SetUserStart:
    case RomRoutine::UpdateCpuFrequency:
    case RomRoutine::GpioPadSelect:
    case RomRoutine::InterruptSetPriority:
        return outcome; // nothing this model reads afterwards
    case RomRoutine::GetXtalFrequency:
        // In Hz: esp-stub-lib's uart.c divides (esp_rom_get_xtal_freq() << 4) by the baud for
        // uart_div_modify. The UART divider the ROM model starts with matches it.
        outcome.result = chip_.fixed_crystal_mhz.value_or(40) * 1'000'000;
        return outcome;
    case RomRoutine::EfuseGetSpiConfig:
        return outcome; // 0: the default SPI pins, as on a chip with blank eFuses
    case RomRoutine::SdioDownloadBegin:
        return outcome; // false: this chip's host talks over UART or USB, never SDIO
    case RomRoutine::GetSecurityInfo: {
        // GetSecurityInfoProc(pMsg, pnErr, buf): the GET_SECURITY_INFO answer, 0 for success.
        auto info = bus_.securityInfo();
        if (auto error = writeGuest(a2, info, "GetSecurityInfoProc")) return error;
        return outcome;
    }
    case RomRoutine::InterruptAttach:
        if (a0 < interrupts_.handlers.size()) {
            interrupts_.handlers[a0] = {a1, a2};
            bus_.interruptHandlerAttached(a0);
        }
        return outcome;
    case RomRoutine::InterruptMask:
        interrupts_.unmasked &= ~a0;
        return outcome;
    case RomRoutine::InterruptUnmask:
        interrupts_.unmasked |= a0;
        return outcome;
    case RomRoutine::InterruptLock:
        interrupts_.locked = true;
        return outcome;
    case RomRoutine::InterruptUnlock:
        interrupts_.locked = false;
        return outcome;
    case RomRoutine::SpiFlashAttach:
        bus_.flashAttached();
        return outcome;
    case RomRoutine::SpiFlashRead:
    case RomRoutine::SpiFlashWrite:
    case RomRoutine::SpiFlashEraseSector:
    case RomRoutine::SpiFlashEraseBlock:
    case RomRoutine::SpiFlashEraseChip:
    case RomRoutine::SpiFlashUnlock:
    case RomRoutine::SpiFlashConfigParam:
    case RomRoutine::SpiFlashReadStatusHigh:
    case RomRoutine::SpiFlashWriteStatus:
    case RomRoutine::SpiFlashWriteEnable:
    case RomRoutine::SpiFlashWaitIdle:
    case RomRoutine::SpiFlashUpdateId:
    case RomRoutine::SpiFlashExecCommand:
    case RomRoutine::SpiFlashWriteEncrypted:
    case RomRoutine::SpiFlashWriteEncryptedEnable:
    case RomRoutine::SpiFlashWriteEncryptedDisable:
        return value(flash(routine, args, stack));
    case RomRoutine::Inflate:
        return value(inflate(args));
    case RomRoutine::Md5Init:
    case RomRoutine::Md5Update:
    case RomRoutine::Md5Final:
    case RomRoutine::MbedtlsMd5Starts:
    case RomRoutine::MbedtlsMd5Update:
    case RomRoutine::MbedtlsMd5Finish:
        return value(md5(routine, args));
    case RomRoutine::Memset:
    case RomRoutine::Memcpy:
    case RomRoutine::Memmove:
        return value(copy(routine, args));
    }
    return fault("a ROM routine this model lists but does not serve");
}

llvm::Expected<uint32_t> RomRoutines::flash(RomRoutine routine, std::span<const uint32_t, 8> args,
                                            uint32_t stack) {
    SpiFlash &part = bus_.flash();
    const uint32_t a0 = args[0], a1 = args[1], a2 = args[2];
    auto finish = [&](bool ok) {
        bus_.flashWaitIdle();
        return ok ? kFlashOk : kFlashError;
    };
    const uint32_t size = flash_chip_size_ ? std::min(flash_chip_size_, part.size()) : part.size();
    switch (routine) {
    case RomRoutine::SpiFlashRead: { // (src_addr, uint32_t *dest, int32_t len)
        if (int32_t(a2) < 0 || uint64_t(a0) + a2 > size) return kFlashError;
        std::vector<uint8_t> data(a2);
        part.read(a0, data);
        if (auto error = writeGuest(a1, data, "esp_rom_spiflash_read")) return error;
        return finish(true);
    }
    case RomRoutine::SpiFlashWrite: { // (dest_addr, const uint32_t *src, int32_t len)
        if (int32_t(a2) < 0 || uint64_t(a0) + a2 > size) return kFlashError;
        auto data = readGuest(a1, a2, "esp_rom_spiflash_write");
        if (!data) return data.takeError();
        // Page by page, as the ROM programs: a page program wraps inside its 256 bytes.
        for (uint32_t done = 0; done < a2;) {
            uint32_t at = a0 + done, chunk = std::min(a2 - done, 256 - at % 256);
            if (part.programPage(at, std::span(*data).subspan(done, chunk)) != SpiFlash::Result::Ok)
                return finish(false);
            done += chunk;
        }
        return finish(true);
    }
    case RomRoutine::SpiFlashEraseSector:
        return finish(uint64_t(a0) * 0x1000 < size &&
                      part.eraseSector(a0 * 0x1000) == SpiFlash::Result::Ok);
    case RomRoutine::SpiFlashEraseBlock:
        return finish(uint64_t(a0) * 0x10000 < size &&
                      part.eraseBlock64(a0 * 0x10000) == SpiFlash::Result::Ok);
    case RomRoutine::SpiFlashEraseChip:
        return finish(part.eraseChip() == SpiFlash::Result::Ok);
    case RomRoutine::SpiFlashUnlock: {
        // "Clear all SR bits except QE bit" (ESP-IDF esp_rom/include/<chip>/rom/spi_flash.h);
        // QE is SR2 bit 1 on the modelled part.
        const uint8_t status[] = {0, uint8_t(part.statusRegister(1) & 0x02)};
        part.transact(0x06, std::nullopt, 0, {}, 0);
        part.transact(0x01, std::nullopt, 0, status, 0);
        return finish(true);
    }
    case RomRoutine::SpiFlashConfigParam: { // (device_id, chip_size, block, sector, page, mask)
        flash_chip_size_ = a1;
        if (auto error = writeFlashRecord(args.first(6), "esp_rom_spiflash_config_param"))
            return error;
        return kFlashOk;
    }
    case RomRoutine::SpiFlashReadStatusHigh: {
        // (chip, uint32_t *status): RDSR2 (35h) shifted into bits 8..15, as ESP-IDF's
        // spi_flash_rom_patch.c implements it.
        uint8_t bytes[4];
        store32(bytes, uint32_t(part.statusRegister(1)) << 8);
        if (auto error = writeGuest(a1, bytes, "esp_rom_spiflash_read_statushigh")) return error;
        return kFlashOk;
    }
    case RomRoutine::SpiFlashWriteStatus: { // (chip, status): SR1 and SR2 in one WRSR
        const uint8_t status[] = {uint8_t(a1), uint8_t(a1 >> 8)};
        part.transact(0x06, std::nullopt, 0, {}, 0);
        part.transact(0x01, std::nullopt, 0, status, 0);
        return finish(true);
    }
    case RomRoutine::SpiFlashWriteEnable:
        part.transact(0x06, std::nullopt, 0, {}, 0);
        return kFlashOk;
    case RomRoutine::SpiFlashUpdateId: { // RDID into the record's device_id
        const uint32_t id = deviceId(part);
        if (auto error = writeFlashRecord(std::span(&id, 1), "esp_rom_spi_flash_update_id"))
            return error;
        return finish(true);
    }
    case RomRoutine::SpiFlashWaitIdle:
        return finish(true);
    case RomRoutine::SpiFlashExecCommand: {
        // esp_rom_opiflash_exec_cmd(spi_num, mode, cmd, cmd_bits, addr, addr_bits, dummy_bits,
        // mosi, mosi_bits | on the stack: miso, miso_bits, cs_mask, is_write_erase): one
        // transaction on the part, whose command is the low byte in SPI mode.
        std::array<uint32_t, 5> more{};
        for (size_t i = 0; i < more.size(); ++i) {
            auto word = readWord(stack + 4 * uint32_t(i), "esp_rom_opiflash_exec_cmd");
            if (!word) return word.takeError();
            more[i] = *word;
        }
        const uint32_t address_bits = args[5], mosi_bits = more[0], miso_bits = more[2];
        auto mosi = readGuest(args[7], (mosi_bits + 7) / 8, "esp_rom_opiflash_exec_cmd");
        if (!mosi) return mosi.takeError();
        auto miso = part.transact(uint8_t(args[2]),
                                  address_bits ? std::optional<uint32_t>(args[4]) : std::nullopt,
                                  address_bits, *mosi, (miso_bits + 7) / 8);
        if (auto error = writeGuest(more[1], miso, "esp_rom_opiflash_exec_cmd")) return error;
        if (more[4]) bus_.flashWaitIdle(); // a write or erase: the ROM waits for the part
        return kFlashOk;
    }
    case RomRoutine::SpiFlashWriteEncrypted:
        // This model has no flash encryption: the write fails, as on a part the ROM cannot
        // program, rather than store plaintext where ciphertext belongs.
        return kFlashError;
    case RomRoutine::SpiFlashWriteEncryptedEnable:
    case RomRoutine::SpiFlashWriteEncryptedDisable:
        return kFlashOk;
    default:
        return fault("not a flash routine");
    }
}

llvm::Expected<uint32_t> RomRoutines::inflate(std::span<const uint32_t, 8> args) {
    // tinfl_decompress(r, in_next, size_t *in_size, out_start, out_next, size_t *out_size, flags)
    const uint32_t decompressor = args[0], in_next = args[1], in_size_at = args[2],
                   out_next = args[4], out_size_at = args[5], flags = args[6];
    auto state = readWord(decompressor, "tinfl_decompress");
    if (!state) return state.takeError();
    auto in_size = readWord(in_size_at, "tinfl_decompress");
    if (!in_size) return in_size.takeError();
    auto out_size = readWord(out_size_at, "tinfl_decompress");
    if (!out_size) return out_size.takeError();
    auto &inflater = inflaters_[decompressor];
    if (*state == 0 || !inflater) { // tinfl_init: a new stream
        inflater = std::make_unique<Inflater>((flags & kParseZlibHeader) != 0);
        uint8_t started[4];
        store32(started, 1); // any state but 0 means "in a stream" to the code
        if (auto error = writeGuest(decompressor, started, "tinfl_decompress")) return error;
    }
    auto input = readGuest(in_next, *in_size, "tinfl_decompress");
    if (!input) return input.takeError();
    if (*out_size > kLargestGuestBlock)
        return fault("tinfl_decompress: the code passed an output size of " +
                     std::to_string(*out_size) + " bytes, more than any chip's RAM");
    std::vector<uint8_t> output(*out_size);
    z_stream &z = inflater->stream;
    z.next_in = input->data();
    z.avail_in = uInt(input->size());
    z.next_out = output.data();
    z.avail_out = uInt(output.size());
    int32_t status;
    if (inflater->done) {
        status = kStatusDone;
    } else {
        int code = ::inflate(&z, Z_NO_FLUSH);
        if (code == Z_STREAM_END) {
            inflater->done = true;
            status = kStatusDone;
        } else if (code != Z_OK && code != Z_BUF_ERROR) {
            status = kStatusFailed;
        } else if (z.avail_out == 0) {
            status = kStatusHasMoreOutput;
        } else {
            status =
                (flags & kHasMoreInput) ? kStatusNeedsMoreInput : kStatusFailedCannotMakeProgress;
        }
    }
    const uint32_t consumed = uint32_t(input->size() - z.avail_in),
                   produced = uint32_t(output.size() - z.avail_out);
    cycles_ += uint64_t(produced) * kInflateCyclesPerByte;
    if (auto error = writeGuest(out_next, std::span(output).first(produced), "tinfl_decompress"))
        return error;
    uint8_t word[4];
    store32(word, consumed);
    if (auto error = writeGuest(in_size_at, word, "tinfl_decompress")) return error;
    store32(word, produced);
    if (auto error = writeGuest(out_size_at, word, "tinfl_decompress")) return error;
    return uint32_t(status);
}

llvm::Expected<uint32_t> RomRoutines::md5(RomRoutine routine, std::span<const uint32_t, 8> args) {
    const bool mbedtls = routine == RomRoutine::MbedtlsMd5Starts ||
                         routine == RomRoutine::MbedtlsMd5Update ||
                         routine == RomRoutine::MbedtlsMd5Finish;
    // MD5Final(digest, ctx) takes the context second; every other call takes it first.
    const uint32_t context_at = routine == RomRoutine::Md5Final ? args[1] : args[0];
    const char *name = mbedtls ? "mbedtls_md5" : "MD5";
    MD5_CTX ctx;
    if (routine == RomRoutine::Md5Init || routine == RomRoutine::MbedtlsMd5Starts) {
        MD5_Init(&ctx);
    } else {
        auto bytes = readGuest(context_at, kMd5ContextSize, name);
        if (!bytes) return bytes.takeError();
        const uint8_t *c = bytes->data();
        uint64_t bits;
        if (mbedtls) {
            bits = (uint64_t(load32(c + 4)) << 32 | load32(c)) * 8;
            ctx.A = load32(c + 8), ctx.B = load32(c + 12), ctx.C = load32(c + 16),
            ctx.D = load32(c + 20);
        } else {
            ctx.A = load32(c), ctx.B = load32(c + 4), ctx.C = load32(c + 8), ctx.D = load32(c + 12);
            bits = uint64_t(load32(c + 20)) << 32 | load32(c + 16);
        }
        ctx.Nl = uint32_t(bits), ctx.Nh = uint32_t(bits >> 32);
        std::memcpy(ctx.data, c + 24, 64);
        ctx.num = unsigned(bits / 8 % 64);
    }
    if (routine == RomRoutine::Md5Update || routine == RomRoutine::MbedtlsMd5Update) {
        // The data goes through in pieces, so that a long update needs no copy of it all.
        for (uint32_t done = 0, total = args[2]; done < total;) {
            uint32_t piece = std::min<uint32_t>(total - done, 64 * 1024);
            auto data = readGuest(args[1] + done, piece, name);
            if (!data) return data.takeError();
            MD5_Update(&ctx, data->data(), data->size());
            cycles_ += piece * kMd5CyclesPerByte;
            done += piece;
        }
    }
    if (routine == RomRoutine::Md5Final || routine == RomRoutine::MbedtlsMd5Finish) {
        uint8_t digest[16];
        MD5_Final(digest, &ctx);
        const uint32_t digest_at = mbedtls ? args[1] : args[0];
        if (auto error = writeGuest(digest_at, digest, name)) return error;
        return 0;
    }
    uint8_t c[kMd5ContextSize] = {};
    const uint64_t bits = uint64_t(ctx.Nh) << 32 | ctx.Nl;
    if (mbedtls) {
        store32(c, uint32_t(bits / 8)), store32(c + 4, uint32_t(bits / 8 >> 32));
        store32(c + 8, ctx.A), store32(c + 12, ctx.B), store32(c + 16, ctx.C),
            store32(c + 20, ctx.D);
    } else {
        store32(c, ctx.A), store32(c + 4, ctx.B), store32(c + 8, ctx.C), store32(c + 12, ctx.D);
        store32(c + 16, uint32_t(bits)), store32(c + 20, uint32_t(bits >> 32));
    }
    std::memcpy(c + 24, ctx.data, 64);
    if (auto error = writeGuest(context_at, c, name)) return error;
    return 0;
}

llvm::Expected<uint32_t> RomRoutines::copy(RomRoutine routine, std::span<const uint32_t, 8> args) {
    const uint32_t destination = args[0], source = args[1], length = args[2];
    cycles_ += length / 4 * 2 + 8; // a load and a store per word (memset: the store alone)
    const char *name = routine == RomRoutine::Memset   ? "memset"
                       : routine == RomRoutine::Memcpy ? "memcpy"
                                                       : "memmove";
    std::vector<uint8_t> bytes;
    if (routine == RomRoutine::Memset) {
        if (length > kLargestGuestBlock)
            return fault("memset: the code passed a length of " + std::to_string(length) +
                         " bytes, more than any chip's RAM");
        bytes.assign(length, uint8_t(source));
    } else {
        auto read = readGuest(source, length, name); // whole first: memmove's overlap is safe
        if (!read) return read.takeError();
        bytes = std::move(*read);
    }
    if (auto error = writeGuest(destination, bytes, name)) return error;
    return destination;
}

// ets_printf(fmt, ...): the ROM's own formatter (%d %i %u %x %X %o %c %s %p %%, with flags '0' and
// '-', a width and 'l'), printing through the console unless the code installed its own putc.
llvm::Expected<uint32_t> RomRoutines::printf(std::span<const uint32_t, 8> args, uint32_t stack) {
    if (putc_function_)
        return fault("ets_printf through a putc function the code installed (0x" +
                     llvm::utohexstr(putc_function_) + ") is not modelled");
    unsigned next_arg = 1;
    auto argument = [&]() -> llvm::Expected<uint32_t> {
        if (next_arg < 8) return args[next_arg++];
        return readWord(stack + 4 * (next_arg++ - 8), "ets_printf");
    };
    std::string text;
    for (uint32_t at = args[0];; ++at) {
        uint8_t c;
        if (!memory_.read(at, std::span(&c, 1)))
            return fault("ets_printf: the format string runs out of memory at 0x" +
                         llvm::utohexstr(at));
        if (c == 0) break;
        if (c != '%') {
            text += char(c);
            continue;
        }
        std::string spec = "%";
        for (;;) {
            if (!memory_.read(++at, std::span(&c, 1)) || c == 0)
                return fault("ets_printf: a format ends inside a conversion");
            if (std::strchr("0-123456789", c)) {
                spec += char(c);
                continue;
            }
            if (c == 'l') continue;
            break;
        }
        if (c == '%') {
            text += '%';
            continue;
        }
        auto value = argument();
        if (!value) return value.takeError();
        char piece[64];
        switch (c) {
        case 'd':
        case 'i':
            std::snprintf(piece, sizeof piece, (spec + "d").c_str(), int32_t(*value));
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            std::snprintf(piece, sizeof piece, (spec + char(c)).c_str(), *value);
            break;
        case 'p':
            std::snprintf(piece, sizeof piece, "0x%08x", *value);
            break;
        case 'c':
            std::snprintf(piece, sizeof piece, (spec + "c").c_str(), int(uint8_t(*value)));
            break;
        case 's': {
            std::string string;
            for (uint32_t p = *value; string.size() < 4096; ++p) {
                uint8_t s;
                if (!memory_.read(p, std::span(&s, 1)))
                    return fault("ets_printf: a %s argument at 0x" + llvm::utohexstr(*value) +
                                 " is not memory");
                if (s == 0) break;
                string += char(s);
            }
            text += string;
            continue;
        }
        default:
            return fault(std::string("ets_printf: the conversion %") + char(c) +
                         " is not modelled");
        }
        text += piece;
    }
    for (char c : text) bus_.uartSend(uint8_t(c)); // as formatted: no \n to \r\n here

    return uint32_t(text.size());
}

} // namespace esptools::vchip
