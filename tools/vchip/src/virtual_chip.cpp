// The virtual chip around its ROM loader (rom_loader.h): the console (UART0, USB-Serial-JTAG or
// USB-OTG) with its timing and faults, reset and boot, and the code it runs (riscv_cpu.h) with the
// registers and interrupts that code sees. Nothing is shared with esp-loader but the chip database
// and SLIP framing.
#include "esptools/slip/slip.h"
#include "esptools/vchip/vchip.h"
#include "riscv_cpu.h"
#include "rom_loader.h"
#include "spi_flash.h"

#include <llvm/ADT/StringExtras.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <utility>

namespace esptools::vchip {
namespace {

using namespace rom_loader;

class Chip final : public VirtualChip, private Bus {
public:
    Chip(const Options &options, std::unique_ptr<SpiFlash> flash)
        : options_(options), usb_(options.console == Console::UsbSerialJtag),
          usb_link_(options.console != Console::Uart), rom_(options, std::move(flash)),
          random_(options.faults.seed) {
        rom_.setFlashBusyProbe(
            [this] { return core_ && options_.timing && cpu_clock_ < flash_busy_until_; });
        armRomHandlers();
        if (usb_ && options_.app_watchdog_ms)
            rom_.startWatchdog(std::chrono::milliseconds(options_.app_watchdog_ms));
    }

    // A watchdog that fires resets the chip, which then boots from flash.
    void checkWatchdog() {
        if (rom_.watchdogFired()) resetAndBoot(kWatchdogReset);
        // A ROM that found no image at the bootloader offset keeps looking, and says so each time.
        if (boot_retry_at_ && Clock::now() >= *boot_retry_at_) {
            boot_retry_at_.reset();
            readBootImage();
        }
    }

    void write(std::span<const uint8_t> bytes) override {
        checkWatchdog();
        // The bytes leave the host now; the code first reaches this moment (not the later one at
        // which its emulation is done), so the time spent emulating does not delay the line.
        const auto sent_at = Clock::now();
        catchUp(sent_at);
        for (uint8_t byte : bytes) {
            if (!connected_) return;
            ++bytes_in_;
            if (options_.faults.disconnect_after_bytes &&
                bytes_in_ > *options_.faults.disconnect_after_bytes) {
                connected_ = false;
                return;
            }
            if (options_.faults.stall_ms && bytes_in_ == options_.faults.stall_after_bytes + 1)
                stall_until_ = Clock::now() + std::chrono::milliseconds(options_.faults.stall_ms);
            // Each byte arrives 10 bit-times after the previous one at the current baud.
            input_clock_ = std::max(input_clock_, sent_at) + perByte();
            if (fault(options_.faults.drop_rate)) continue;
            if (fault(options_.faults.corrupt_in_rate)) byte ^= uint8_t(1 + random_() % 255);
            byte = acrossTheLine(byte, baud_);
            if (core_) {
                wire_.emplace_back(options_.timing ? input_clock_ : sent_at, byte);
                continue;
            }
            if (!in_download_mode_) continue;
            if (decoder_.push(byte) == slip::Decoder::Event::Frame) {
                std::vector<uint8_t> replies;
                rom_.handle(decoder_.frame(), replies);
                queueOutput(replies, options_.timing ? input_clock_ : sent_at);
                // After the reply went out; the ROM retunes UART0, which a USB console is not.
                if (auto baud = rom_.takePendingBaud(); baud && !usb_link_) baud_ = *baud;
                if (rom_.takeBootRequest()) {
                    bootFromFlash(kSoftwareReset); // the ROM leaves the loader
                    return;
                }
                if (auto entry = rom_.takeRunRequest()) {
                    std::vector<LoadedSegment> segments;
                    for (auto &[address, bytes] : rom_.takeRam())
                        segments.push_back({address, std::move(bytes)});
                    in_download_mode_ = false;
                    // The ROM's reply to MEM_END leaves before the code starts.
                    cpu_clock_ = std::max(Clock::now(), line_free_at_);
                    execute(segments, *entry);
                    return;
                }
            }
        }
        if (core_) runCore();
    }

    size_t read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) override {
        if (!connected_ || buffer.empty()) return 0;
        checkWatchdog();
        auto deadline = Clock::now() + timeout;
        auto take_due = [&] {
            auto now = Clock::now();
            size_t count = 0;
            while (count < buffer.size() && !output_.empty() && output_.front().at <= now) {
                // Received at the rate the host has now, sent at the chip's rate then.
                buffer[count++] = acrossTheLine(output_.front().byte, output_.front().baud);
                output_.pop_front();
            }
            return count;
        };
        for (;;) {
            // What has reached the host is handed over before the code runs on: on silicon the
            // two work in parallel, and here the code's run would hold the reply up.
            if (size_t count = take_due()) return count;
            catchUp();
            size_t count = take_due();
            if (count > 0 || Clock::now() >= deadline) return count;
            // Replies are made when requests are written, or by code that has yet to reach the
            // present; with neither pending, nothing will come: wait out the timeout as a silent
            // device would.
            auto wake = deadline;
            if (!output_.empty()) wake = std::min(wake, output_.front().at);
            if (core_ && resume_at_) wake = std::min(wake, *resume_at_);
            std::this_thread::sleep_until(wake);
        }
    }

    void setBaudRate(uint32_t baud) override { host_baud_ = baud; }

    std::optional<Clock::time_point> nextEvent() const override {
        std::optional<Clock::time_point> next;
        if (!output_.empty()) next = output_.front().at;
        if (core_ && resume_at_ && (!next || *resume_at_ < *next)) next = *resume_at_;
        return next;
    }

    // A new divider scales the rate the ROM measured (integer part, 4-bit fraction).
    void commitClockDivider() {
        if (!clkdiv_written_ || !clkdiv_) return;
        auto sixteenths = [](uint32_t div) { return (div & 0xFFF) * 16 + (div >> 20 & 15); };
        baud_ = uint32_t(uint64_t(baud_) * sixteenths(clkdiv_) / sixteenths(clkdiv_written_));
        clkdiv_ = clkdiv_written_;
    }

    // Once the host has said at what rate its side runs (an in-process port, or "baud N" on the
    // control port; a raw TCP client has no rate), bytes between two sides more than 3% apart are
    // received as garbage, as on a real line.
    uint8_t acrossTheLine(uint8_t byte, uint32_t chip_baud) const {
        if (!host_baud_ || usb_link_) return byte;
        uint64_t high = std::max(*host_baud_, chip_baud), low = std::min(*host_baud_, chip_baud);
        return high * 100 > low * 103 ? uint8_t(byte ^ 0x55) : byte;
    }
    bool connected() const override { return connected_; }

    void setDtr(bool asserted) override {
        if (otg()) return;
        bool was_in_reset = usbHoldsReset();
        dtr_ = asserted;
        if (usb_) usbLinesChanged(was_in_reset);
    }
    void setRts(bool asserted) override {
        // This model's assumption for USB-OTG: the ROM's CDC port does not reset the chip, so a
        // hard reset takes the RTC watchdog (esptool resets these chips so).
        if (otg()) return;
        if (usb_) {
            bool was_in_reset = usbHoldsReset();
            rts_ = asserted;
            return usbLinesChanged(was_in_reset);
        }
        // RTS drives EN: releasing it starts the chip, in download mode when DTR holds GPIO0 low.
        if (rts_ && !asserted) {
            if (dtr_)
                resetIntoDownloadMode();
            else
                resetAndBoot();
        }
        rts_ = asserted;
    }

    // USB-Serial-JTAG reads the CDC-ACM lines itself, as esptool's USBJTAGSerialReset
    // (reset.py) drives them: DTR without RTS latches download boot ("Set IO0"), RTS without DTR
    // holds the chip in reset, and both released starts it; both asserted does nothing, which is
    // why that sequence passes through it. A UART bridge's classic sequence therefore boots the
    // flash here.
    bool usbHoldsReset() const { return usb_ && rts_ && !dtr_; }
    void usbLinesChanged(bool was_in_reset) {
        if (dtr_ && !rts_) usb_download_latch_ = true;
        if (was_in_reset && !usbHoldsReset()) {
            if (usb_download_latch_)
                resetIntoDownloadMode();
            else
                resetAndBoot();
        }
        if (!dtr_ && !rts_) usb_download_latch_ = false;
    }

    void resetIntoDownloadMode() override {
        stopCode();
        resetClocks();
        armRomHandlers();
        rom_.detachFlash();
        boot_retry_at_.reset();
        in_download_mode_ = true;
        decoder_.reset();
        output_.clear();
        line_free_at_ = {};
        baud_ = 115200;
        if (usb_ && options_.app_watchdog_ms)
            rom_.startWatchdog(std::chrono::milliseconds(options_.app_watchdog_ms));
        static constexpr char kBootText[] =
            "ESP-ROM:virtual\r\nboot:0x3 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n";
        for (char c : std::string_view(kBootText))
            output_.push_back({Clock::now(), uint8_t(c), baud_});
    }

    // The reset reason the ROM prints (ESP-IDF esp_rom/include/<chip>/rom/rtc.h, RESET_REASON).
    struct ResetReason {
        uint8_t code;
        const char *name;
    };
    static constexpr ResetReason kPowerOnReset{0x01, "POWERON"};
    static constexpr ResetReason kWatchdogReset{0x10, "RTCWDT_RTC_RST"};
    static constexpr ResetReason kSoftwareReset{0x03, "RTC_SW_SYS_RST"};

    void resetAndBoot() override { resetAndBoot(kPowerOnReset); }
    void resetAndBoot(ResetReason reason) {
        stopCode();
        resetClocks();
        output_.clear();
        line_free_at_ = {};
        baud_ = 115200;
        bootFromFlash(reason);
    }

    void powerCycle() override {
        rom_.flash().powerCycle();
        resetIntoDownloadMode();
    }

private:
    // What the ROM does at boot: read the image at the bootloader offset, check it, load its
    // RAM segments and jump to the entry point.
    void bootFromFlash(ResetReason reason) {
        in_download_mode_ = false;
        uart_int_ena_ = usb_int_ena_ = 0; // the download loader's handlers are not installed
        rom_.attachFlash();               // to boot from it
        decoder_.reset();
        char banner[96];
        std::snprintf(banner, sizeof banner,
                      "ESP-ROM:virtual\r\nrst:0x%x (%s),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n",
                      reason.code, reason.name);
        say(banner);
        readBootImage();
    }

    // The retry period of a ROM that finds no image: a model choice (silicon repeats the line
    // for as long as the flash holds no image; the rate is not documented).
    static constexpr std::chrono::milliseconds kBootRetry{100};

    void readBootImage() {
        const ChipDescription &chip = *options_.chip;
        SpiFlash &flash = rom_.flash();
        uint32_t at = chip.bootloader_flash_offset;
        uint8_t header[24];
        flash.read(at, header);
        if (header[0] != 0xE9) {
            char text[64];
            std::snprintf(text, sizeof text, "invalid header: 0x%08x\r\n", le32(header));
            boot_retry_at_ = Clock::now() + kBootRetry;
            return say(text);
        }
        const bool extended = chip.image_format == chipdb::ImageFormat::Esp32;
        uint32_t position = at + (extended ? 24 : 8);
        uint8_t checksum = 0xEF;
        std::vector<LoadedSegment> segments;
        for (int i = 0; i < header[1]; ++i) {
            uint8_t segment_header[8];
            flash.read(position, segment_header);
            uint32_t address = le32(segment_header), length = le32(segment_header + 4);
            if (length > flash.size() - position) return say("invalid segment length\r\n");
            std::vector<uint8_t> data(length);
            flash.read(position + 8, data);
            for (uint8_t byte : data) checksum ^= byte;
            position += 8 + length;
            if (!chipdb::isFlashAddress(chip, address))
                segments.push_back({address, std::move(data)});
        }
        uint8_t stored = 0;
        flash.read(position | 15, std::span<uint8_t>(&stored, 1));
        if (stored != checksum) return say("checksum failure\r\n");
        cpu_clock_ = Clock::now();
        execute(segments, le32(header + 4));
    }

    void execute(const std::vector<LoadedSegment> &segments, uint32_t entry) {
        const ChipDescription &chip = *options_.chip;
        std::vector<uint32_t> peripherals = rom_.registerPages();
        peripherals.push_back(chip.uart_base & ~0xFFFu);
        peripherals.push_back(chip.spi.base & ~0xFFFu);
        if (chip.usb_serial_jtag_base) peripherals.push_back(chip.usb_serial_jtag_base & ~0xFFFu);
        // The interrupt matrix's USB map register holds what code writes (the ROM's routing).
        if (uint32_t map = chip.usb_serial_jtag_interrupt.map_register) {
            rom_.writeRegister(map, 0);
            peripherals.push_back(map & ~0xFFFu);
        }
        for (uint32_t watchdog : {chip.watchdogs.rwdt_config0, chip.watchdogs.swd_config})
            if (watchdog) peripherals.push_back(watchdog & ~0xFFFu);
        for (const auto &select : chip.pll_cpu_clock.selects)
            peripherals.push_back(select.field.address & ~0xFFFu);
        std::sort(peripherals.begin(), peripherals.end());
        peripherals.erase(std::unique(peripherals.begin(), peripherals.end()), peripherals.end());
        // The ROM's console record stays in RAM for the code to find (through GetUartDevice).
        std::vector<LoadedSegment> loaded;
        if (usb_) {
            auto word = chipdb::romConsoleWord(chip, options_.revision);
            loaded.push_back({word.address, {word.usb_serial_jtag_value}});
        }
        loaded.insert(loaded.end(), segments.begin(), segments.end());
        auto core = RiscVCore::create(chip, loaded, entry, peripherals, *this);
        if (!core) return say("esp-vchip: " + llvm::toString(core.takeError()) + "\r\n");
        core_ = std::move(*core);
        rom_.flash().takeTransferTime(); // the boot's own reads are not the code's
        updateClocks();
        spi_idle_at_ = {};
        clkdiv_ = clkdiv_written_ = rom_.readRegister(chip.uart_clkdiv_reg);
        runCore();
    }

    // Runs the code until it waits for input, or for a slice of time: long work (an MD5 over
    // megabytes on a slow host) goes on the next time the host reads or writes, so the host's own
    // timeouts, not a guess here, decide when a chip is too slow. The slice ends at a UART status
    // poll, the one access a run can stop at and repeat without effect. Code that never polls is
    // stopped after a while, as a watchdog would.
    void runCore(Clock::time_point present = Clock::now()) {
        // With the timing model on, the code may not run ahead of the present: input the host
        // sends meanwhile must find it where silicon would be, not in the future.
        if (options_.timing) horizon_ = present;
        resume_at_.reset();
        sent_in_run_ = false;
        delayed_in_run_ = {};
        slice_end_ = Clock::now() + std::chrono::milliseconds(100);
        auto result = core_->run(std::chrono::milliseconds(5000));
        if (!result) {
            say("esp-vchip: " + llvm::toString(result.takeError()) + "\r\n");
            return stopCode();
        }
        if (*result == RiscVCore::Stop::OutOfTime) {
            say("esp-vchip: the code ran for 5 s without polling its UART; stopped\r\n");
            return stopCode();
        }
        if (*result == RiscVCore::Stop::Returned) stopCode();
        if (*result == RiscVCore::Stop::SoftwareReset) {
            stopCode();
            bootFromFlash(kSoftwareReset);
        }
    }

    // Lets code paused at the present run on up to the new present.
    void catchUp(Clock::time_point present = Clock::now()) {
        if (core_ && resume_at_ && *resume_at_ <= present) runCore(present);
    }

    void stopCode() {
        resume_at_.reset();
        code_owns_uart_line_ = code_owns_usb_line_ = false;
        core_.reset();
        wire_.clear();
        rx_fifo_.clear();
        usb_in_.clear();
    }

    void say(const std::string &text) {
        queueOutput(std::vector<uint8_t>(text.begin(), text.end()), Clock::now());
    }

    // --- the bus running code sees: UART0, USB-Serial-JTAG and the SPI flash controller --------

    // ESP-IDF uart_reg.h (the RISC-V chips): FIFO, INT_RAW, INT_ST, INT_ENA, CLKDIV, STATUS.
    static constexpr uint32_t kUartFifo = 0x00, kUartIntRaw = 0x04, kUartIntSt = 0x08,
                              kUartClkdiv = 0x14, kUartStatus = 0x1C, kUartConf1 = 0x24;
    static constexpr size_t kUartFifoSize = 128;
    // ESP-IDF usb_serial_jtag_reg.h: EP1 (the FIFO byte), EP1_CONF (WR_DONE, IN data free, OUT
    // data available); both endpoints move 64-byte packets.
    static constexpr uint32_t kUsbEp1 = 0x00, kUsbEp1Conf = 0x04;
    static constexpr uint32_t kUsbWriteDone = 1u << 0, kUsbInFree = 1u << 1,
                              kUsbOutAvailable = 1u << 2;
    static constexpr size_t kUsbPacket = 64;
    // The ROM loader takes its input by interrupt (ESP-IDF soc.h: CPU interrupt 5 is the ROM's
    // UART0 one; esp-flasher-stub re-attaches sources 5 and 17, UART and USB). Which enables it
    // leaves on is this model's assumption: UART0's RX FIFO full and timeout (UART_INT_ENA bits 0
    // and 8), USB's OUT packet received (USB_SERIAL_JTAG_INT_ENA bit 2). While they stay on, the
    // ROM's handler takes what arrives, and code that polls the port never sees it.
    static constexpr uint32_t kUartIntEna = 0x0C, kUsbIntEna = 0x10;
    static constexpr uint32_t kUartRxInterrupts = 1u << 0 | 1u << 8, kUsbRxInterrupt = 1u << 2;
    static constexpr unsigned kIdlePolls = 64;
    static constexpr uint64_t kWorkBetweenPolls = 2000; // cycles

    // The ROM's own output routines print on the port the ROM talks on.
    // A ROM routine prints (the run may stop after it: the routine is not repeated).
    // uart_tx_one_char waits for room in the TX FIFO, so nothing it sends is lost: the code's
    // time moves on until the oldest byte in the FIFO has left.
    void uartSend(uint8_t byte) override {
        pauseWhileHostBehind();
        if (options_.timing && !usb_ && transmitBacklog() >= kUartFifoSize) {
            cpu_clock_ = output_[output_.size() - kUartFifoSize].at;
            if (cpu_clock_ > horizon_) { // the code has run into the future: go on then
                pause_ = true;
                resume_at_ = cpu_clock_;
            }
        }
        transmit(byte);
    }
    void transmit(uint8_t byte) {
        if (usb_) return lineSend(byte);
        if (options_.timing && transmitBacklog() >= kUartFifoSize) return; // TX FIFO overflow
        lineSend(byte);
    }
    // Without the timing model the line is infinitely fast, but the host reads at its own pace:
    // code that prints on and on waits (as at a full TX FIFO) until the host catches up.
    static constexpr size_t kUnreadOutputLimit = 64 * 1024;
    void pauseWhileHostBehind() {
        if (options_.timing || output_.size() < kUnreadOutputLimit) return;
        pause_ = true;
        if (!resume_at_) resume_at_ = Clock::now();
    }

    void waitTransmitIdle() override {
        if (options_.timing) cpu_clock_ = std::max(cpu_clock_, line_free_at_);
    }

    // uart_div_modify writes the integer part and the 4-bit fraction and commits them.
    void setUartDivider(uint32_t sixteenths) override {
        if (usb_link_) return;
        clkdiv_written_ = (sixteenths >> 4) | (sixteenths & 15) << 20;
        commitClockDivider();
    }

    SpiFlash &flash() override { return rom_.flash(); }
    void flashWaitIdle() override {
        auto busy = rom_.flash().takeBusyTime();
        auto transfer = rom_.flash().takeTransferTime();
        if (options_.timing) cpu_clock_ = std::max(cpu_clock_, flash_busy_until_) + transfer + busy;
    }

    // The timing model charges running code for its work: each instruction one cycle of the CPU
    // clock, as the ROM leaves it (the crystal: "on power on reset ... ROM bootloader is running
    // at 40 MHz", ESP-IDF components/bootloader_support/src/bootloader_clock_init.c), and the
    // SPI bus time of its flash commands.
    static constexpr std::chrono::microseconds kRunAhead{1000};
    uint64_t cpuMegahertz() const { return cpu_mhz_; }

    // The clocks code selects: the CPU's PLL clock (chipdb pll_cpu_clock; silicon's stubs switch
    // to it) and the flash bus's divider (chipdb spi.clock). A reset returns both to the ROM's.
    void updateClocks() {
        const ChipDescription &chip = *options_.chip;
        const auto &pll = chip.pll_cpu_clock;
        const bool on_pll =
            !pll.selects.empty() &&
            std::all_of(pll.selects.begin(), pll.selects.end(),
                        [&](const chipdb::FieldSetting &select) {
                            return select.field.extract(rom_.readRegister(select.field.address)) ==
                                   select.value;
                        });
        cpu_mhz_ = on_pll ? pll.mhz : chip.fixed_crystal_mhz.value_or(40);
        unreported_cycle_fraction_ = 0;
        uint32_t bus_khz = 0;
        if (chip.spi.clock) {
            constexpr uint32_t kClockEqualsSource = 1u << 31;
            const uint32_t clock = rom_.readRegister(chip.spi.base + chip.spi.clock);
            const uint32_t divider = (clock & kClockEqualsSource) ? 1 : ((clock >> 16) & 0xFF) + 1;
            if (clock) bus_khz = chip.spi.clock_source_mhz * 1000 / divider;
        }
        rom_.flash().setBusClock(bus_khz);
    }
    bool selectsClock(uint32_t address) const {
        const ChipDescription &chip = *options_.chip;
        if (chip.spi.clock && address == chip.spi.base + chip.spi.clock) return true;
        return std::any_of(
            chip.pll_cpu_clock.selects.begin(), chip.pll_cpu_clock.selects.end(),
            [&](const chipdb::FieldSetting &select) { return select.field.address == address; });
    }
    void resetClocks() {
        const ChipDescription &chip = *options_.chip;
        for (const auto &select : chip.pll_cpu_clock.selects)
            rom_.writeRegister(select.field.address, 0);
        if (chip.spi.clock) rom_.writeRegister(chip.spi.base + chip.spi.clock, 0);
        updateClocks();
    }
    // The flash controller moves a command's bits while the CPU runs on; code that touches the
    // controller again (to poll it, or to take the data) waits for the bus to finish.
    bool inSpiController(uint32_t address) const {
        const uint32_t base = options_.chip->spi.base;
        return address >= base && address < base + 0x100;
    }
    void waitForSpiController() {
        if (options_.timing) cpu_clock_ = std::max(cpu_clock_, spi_idle_at_);
    }

    void retire(uint64_t cycles) override {
        cycles_since_poll_ += cycles;
        if (!options_.timing) return;
        const uint64_t scaled = cycles * 1000 + unreported_cycle_fraction_;
        unreported_cycle_fraction_ = scaled % cpuMegahertz();
        cpu_clock_ += std::chrono::nanoseconds(scaled / cpuMegahertz());
        cpu_clock_ += rom_.flash().takeTransferTime();
    }
    // Code that has computed past the present pauses at its next console poll (the one access a
    // run can stop at and repeat), as a delay does, so what it sends leaves when silicon's would.
    void pauseIfAhead() {
        if (options_.timing && cpu_clock_ > horizon_ + kRunAhead && !withinSentInput(cpu_clock_)) {
            pause_ = true;
            resume_at_ = cpu_clock_;
        }
    }
    std::vector<uint8_t> securityInfo() override { return rom_.securityInfoBytes(); }

    // UART0's receive interrupts (ESP-IDF uart_reg.h: RXFIFO_FULL bit 0, RXFIFO_TOUT bit 8).
    // With the timing model, FULL once the FIFO holds the threshold the code set (UART_CONF1's
    // RXFIFO_FULL_THRHD, its low 8 bits), TOUT when no byte follows within one byte-time (the
    // stubs' 10 bit-time timeout; a model choice: it fires as the gap starts, not after it).
    // Without it every byte has arrived at once, so both are raised while the FIFO holds any.
    // The ROM routes UART0 to CPU line 5 (esp-flasher-stub transport.c attaches there; ESP-IDF
    // soc.h ETS_UART0_INUM).
    static constexpr unsigned kRomUartLine = 5;
    static constexpr uint32_t kRxFifoFull = 1u << 0, kRxTimeout = 1u << 8;
    uint32_t uartRawInterrupts() {
        if (usb_link_) return 0;
        settleReceiveFifo();
        if (rx_fifo_.empty()) return 0;
        if (!options_.timing) return kUartRxInterrupts;
        uint32_t raw = 0;
        if (rx_fifo_.size() >= std::max<uint32_t>(uart_conf1_ & 0xFF, 1)) raw |= kRxFifoFull;
        if (wire_.empty() || wire_.front().first > cpu_clock_ + perByte()) raw |= kRxTimeout;
        return raw;
    }
    // USB-Serial-JTAG's OUT-packet interrupt (USB_SERIAL_JTAG_INT_ENA bit 2), raised while the
    // endpoint holds bytes, on the line the code routed it to through the interrupt matrix.
    std::optional<unsigned> usbLine() {
        const auto &route = options_.chip->usb_serial_jtag_interrupt;
        if (!usb_ || !route.map_register) return std::nullopt;
        const uint32_t mapped = rom_.readRegister(route.map_register);
        if (mapped < route.line_offset || mapped - route.line_offset >= 32) return std::nullopt;
        return mapped - route.line_offset;
    }
    uint32_t interruptLines() override {
        uint32_t lines = (uartRawInterrupts() & uart_int_ena_) ? 1u << kRomUartLine : 0;
        if (auto line = usbLine(); line && (usb_int_ena_ & kUsbRxInterrupt)) {
            settleReceiveFifo();
            if (!rx_fifo_.empty()) lines |= 1u << *line;
        }
        return lines;
    }
    void interruptHandlerAttached(unsigned line) override {
        if (line == kRomUartLine) code_owns_uart_line_ = true;
        if (usbLine() == line) code_owns_usb_line_ = true;
    }
    bool waitForInterrupt() override {
        for (;;) {
            if (interruptLines()) return true;
            if (!advanceToNextEvent()) return false; // nothing until the host sends more
            if (pause_) {                            // the next arrival is in the future
                pause_ = false;
                return false;
            }
        }
    }

    // A byte leaves for the host when the line is free.
    void lineSend(uint8_t byte) {
        // The line is busy until the last byte queued has gone, whether or not the host has
        // already read it (a paused core can be behind the line).
        auto ready = std::max({cpu_clock_, stall_until_, line_free_at_});
        if (fault(options_.faults.drop_rate)) return;
        if (fault(options_.faults.corrupt_rate)) byte ^= uint8_t(1 + random_() % 255);
        if (options_.timing) ready += perByte();
        line_free_at_ = std::chrono::time_point_cast<Clock::duration>(ready);
        output_.push_back({line_free_at_, byte, baud_});
        sent_in_run_ = sent_since_status_poll_ = true;
    }

    // USB-Serial-JTAG sends a packet when its endpoint is full or the code writes WR_DONE.
    void sendUsbPacket() {
        for (uint8_t byte : usb_in_) lineSend(byte);
        usb_in_.clear();
    }

    void flashAttached() override { rom_.attachFlash(); }

    uint32_t uartDeviceAddress() override {
        auto word = chipdb::romConsoleWord(*options_.chip, options_.revision);
        if (word.address) return word.address - chipdb::kConsoleNumberOffset;
        // Where no source places the record but the console is UART0, a zeroed record in the
        // ROM's data (a model choice) says what matters: console UART0, baud not recorded.
        const uint32_t rom_data = options_.chip->rom_flash_record_pointer;
        return !usb_link_ && rom_data ? (rom_data - 0x80) & ~3u : 0;
    }

    std::optional<uint8_t> uartReceive() override {
        settleReceiveFifo();
        if (rx_fifo_.empty()) {
            waiting_ = !advanceToNextEvent();
            settleReceiveFifo();
            if (rx_fifo_.empty()) return std::nullopt;
        }
        uint8_t byte = rx_fifo_.front();
        rx_fifo_.pop_front();
        return byte;
    }

    std::optional<uint8_t> takeReceived() {
        settleReceiveFifo();
        if (rx_fifo_.empty()) return std::nullopt;
        uint8_t byte = rx_fifo_.front();
        rx_fifo_.pop_front();
        return byte;
    }

    // The console's status poll: the one access a run may stop at and repeat. Time passes to the
    // next event when nothing has come; a run of empty polls is code waiting for input.
    void pollConsole() {
        pauseIfAhead();
        if (Clock::now() >= slice_end_) { // see runCore
            pause_ = true;
            if (!resume_at_) resume_at_ = Clock::now();
        }
        if (options_.timing && sent_in_run_ && !sent_since_status_poll_) {
            // The code has finished sending: its run pauses until the bytes have left, so the
            // host gets them while the code's next work waits to be emulated, as if the two ran
            // side by side.
            pause_ = true;
            sent_in_run_ = false;
            if (!resume_at_) resume_at_ = std::max(Clock::now(), line_free_at_);
        }
        sent_since_status_poll_ = false;
        // Polls with work between them (a stub hashing a region polls after each piece) are not
        // a loop waiting for input.
        if (std::exchange(cycles_since_poll_, 0) > kWorkBetweenPolls) empty_polls_ = 0;
        pauseWhileHostBehind();
        settleReceiveFifo();
        if (rx_fifo_.empty() && transmitBacklog() >= transmitCapacity() / 2) {
            advanceToNextEvent();
        } else if (rx_fifo_.empty() && !advanceToNextEvent()) {
            // Status alone is also read to find TX room; only a run of empty polls with
            // nothing else in between is code waiting for input.
            waiting_ = ++empty_polls_ >= kIdlePolls;
            return;
        }
        settleReceiveFifo();
        empty_polls_ = 0;
    }

    // A port nobody listens on: code polling it waits for input that never comes.
    void pollSilentPort() {
        if (Clock::now() >= slice_end_) {
            pause_ = true;
            if (!resume_at_) resume_at_ = Clock::now();
        }
        waiting_ = ++empty_polls_ >= kIdlePolls;
    }

    uint32_t readRegister(uint32_t address) override {
        const ChipDescription &chip = *options_.chip;
        if (address >= chip.uart_base && address < chip.uart_base + 0x1000) {
            switch (address - chip.uart_base) {
            case kUartFifo:
                if (usb_link_) return 0; // the host's bytes arrive on USB
                return takeReceived().value_or(0);
            case kUartStatus: {
                if (usb_link_) {
                    pollSilentPort();
                    return 0;
                }
                pollConsole();
                const size_t counts = chip.uart_fifo_count_mask;
                return uint32_t(std::min(rx_fifo_.size(), counts)) |
                       uint32_t(std::min(transmitBacklog(), counts)) << 16;
            }
            case kUartClkdiv:
                return clkdiv_written_; // what was written, committed or not
            case kUartIntEna:
                return uart_int_ena_;
            case kUartIntRaw:
                return uartRawInterrupts();
            case kUartIntSt:
                return uartRawInterrupts() & uart_int_ena_;
            case kUartConf1:
                return uart_conf1_;
            default:
                return 0; // UART_REG_UPDATE reads 0 once the commit is done, at once here
            }
        }
        if (chip.usb_serial_jtag_base && address >= chip.usb_serial_jtag_base &&
            address < chip.usb_serial_jtag_base + 0x1000) {
            switch (address - chip.usb_serial_jtag_base) {
            case kUsbEp1:
                return usb_ ? takeReceived().value_or(0) : 0;
            case kUsbIntEna:
                return usb_int_ena_;
            case kUsbEp1Conf: {
                if (!usb_) {
                    pollSilentPort();
                    return kUsbInFree;
                }
                pollConsole();
                bool in_free = usb_in_.size() < kUsbPacket && transmitBacklog() < kUsbPacket;
                return (in_free ? kUsbInFree : 0) | (rx_fifo_.empty() ? 0 : kUsbOutAvailable);
            }
            default:
                return usb_registers_[address];
            }
        }
        if (inSpiController(address)) waitForSpiController();
        return rom_.readRegister(address);
    }

    void writeRegister(uint32_t address, uint32_t value) override {
        const ChipDescription &chip = *options_.chip;
        empty_polls_ = 0;
        if (address >= chip.uart_base && address < chip.uart_base + 0x1000) {
            const uint32_t offset = address - chip.uart_base;
            // With a USB console, UART0's TX pin leads nowhere the host listens.
            if (offset == kUartFifo && !usb_link_) transmit(uint8_t(value));
            if (offset == kUartIntEna) uart_int_ena_ = value;
            if (offset == kUartConf1) uart_conf1_ = value;
            if (offset == kUartClkdiv) {
                clkdiv_written_ = value;
                if (!chip.uart_reg_update) commitClockDivider();
            }
            // Where the UART has a register-update strobe, a new divider waits for it.
            if (chip.uart_reg_update && offset == chip.uart_reg_update && (value & 1))
                commitClockDivider();
            return;
        }
        if (chip.usb_serial_jtag_base && address >= chip.usb_serial_jtag_base &&
            address < chip.usb_serial_jtag_base + 0x1000) {
            const uint32_t offset = address - chip.usb_serial_jtag_base;
            if (usb_ && offset == kUsbEp1 && usb_in_.size() < kUsbPacket) {
                usb_in_.push_back(uint8_t(value));
                if (usb_in_.size() == kUsbPacket) sendUsbPacket();
            } else if (usb_ && offset == kUsbEp1Conf && (value & kUsbWriteDone)) {
                sendUsbPacket();
            } else if (offset == kUsbIntEna) {
                usb_int_ena_ = value;
            } else if (offset != kUsbEp1 && offset != kUsbEp1Conf) {
                usb_registers_[address] = value;
            }
            return;
        }
        const bool to_spi = inSpiController(address);
        if (to_spi) waitForSpiController();
        rom_.writeRegister(address, value);
        if (selectsClock(address)) updateClocks();
        if (options_.timing) {
            const auto transfer = rom_.flash().takeTransferTime();
            if (to_spi)
                spi_idle_at_ = cpu_clock_ + transfer;
            else
                cpu_clock_ += transfer;
        }
        auto busy = rom_.flash().takeBusyTime();
        if (options_.timing && busy.count() > 0)
            flash_busy_until_ = std::max({cpu_clock_, spi_idle_at_, flash_busy_until_}) + busy;
        if (options_.timing && cpu_clock_ < flash_busy_until_ && address == chip.spi.base) {
            advanceToNextEvent(); // the code polls WIP: time passes
            pause_ = false;       // a run stops only at a UART status poll, which it can repeat
        }
    }

    bool idle() override { return std::exchange(waiting_, false) || std::exchange(pause_, false); }

    void delay(uint32_t microseconds) override {
        if (options_.timing) {
            cpu_clock_ += std::chrono::microseconds(microseconds);
            if (cpu_clock_ > horizon_) { // the code has waited into the future: go on then
                pause_ = true;
                resume_at_ = cpu_clock_;
            }
            return;
        }
        // Without the timing model a delay takes no time, so code that speaks after one (a
        // stub's greeting) is heard at once; code that only waits, long and with no input to
        // handle, is idle until the host sends.
        delayed_in_run_ += std::chrono::microseconds(microseconds);
        waiting_ =
            delayed_in_run_ > std::chrono::milliseconds(500) && wire_.empty() && rx_fifo_.empty();
    }

    // Host bytes that have reached the chip by the code's current time enter the RX FIFO; with the
    // timing model on, bytes that find it full are lost, as on silicon.
    // USB never loses a byte: the host's packet waits until the endpoint has room.
    void settleReceiveFifo() {
        while (!wire_.empty() && (!options_.timing || wire_.front().first <= cpu_clock_)) {
            if (core_ && romHandlerArmed()) { // the ROM's interrupt handler takes it
                ++taken_by_rom_handler_;
                wire_.pop_front();
                continue;
            }
            if (usb_ && rx_fifo_.size() >= kUsbPacket) break;
            // Code that takes its input by interrupt loses nothing here: on silicon its handler
            // runs even while a ROM flash routine does (they run with interrupts on), which this
            // model, running a routine whole, cannot show; the FIFO holds the bytes instead.
            const bool handler_drains = code_owns_uart_line_ && (uart_int_ena_ & kUartRxInterrupts);
            if (options_.timing && rx_fifo_.size() >= kUartFifoSize && !handler_drains)
                reportOverflow();
            else
                rx_fifo_.push_back(wire_.front().second);
            wire_.pop_front();
        }
    }

    // A byte that finds the RX FIFO full is lost, as on silicon; the code did not drain it in
    // time. Said on stderr (not on the UART), at most once a second, so a slow stub is found.
    void reportOverflow() {
        ++rx_overflows_;
        const auto now = Clock::now();
        if (now - last_overflow_report_ < std::chrono::seconds(1)) return;
        last_overflow_report_ = now;
        std::fprintf(stderr, "esp-vchip: RX FIFO overflow, %llu bytes lost so far\n",
                     static_cast<unsigned long long>(rx_overflows_));
    }

    size_t transmitCapacity() const { return usb_ ? kUsbPacket : kUartFifoSize; }

    bool romHandlerArmed() const {
        return usb_ ? !code_owns_usb_line_ && (usb_int_ena_ & kUsbRxInterrupt) != 0
                    : !code_owns_uart_line_ && (uart_int_ena_ & kUartRxInterrupts) != 0;
    }
    void armRomHandlers() {
        uart_int_ena_ = usb_link_ ? 0 : kUartRxInterrupts;
        usb_int_ena_ = usb_ ? kUsbRxInterrupt : 0;
    }

    size_t transmitBacklog() const {
        size_t count = 0;
        for (auto it = output_.rbegin(); it != output_.rend() && it->at > cpu_clock_; ++it) ++count;
        return count;
    }

    // Bytes the host has already written arrive on a timeline no later write can get ahead of (it
    // queues behind them on the line), so code may run into the future up to the last of them
    // without missing anything: a stream of data blocks is emulated in long runs, not one run per
    // byte as it trickles in.
    bool withinSentInput(Clock::time_point at) const {
        return !wire_.empty() && at <= wire_.back().first;
    }

    // Code that polls (for input, for WIP, for TX space) lets time pass until the next thing
    // happens. False when nothing will happen until the host sends more.
    bool advanceToNextEvent() {
        if (!options_.timing) return false;
        // Bytes already due enter the FIFO first, so the next arrival is a future one: a poll
        // must not jump past bytes the code would have read on the way.
        settleReceiveFifo();
        std::optional<Clock::time_point> next;
        auto consider = [&](Clock::time_point at) {
            if (at > cpu_clock_ && (!next || at < *next)) next = at;
        };
        if (!wire_.empty()) {
            // Bytes on their way enter the FIFO together, up to an eighth of its free room, so that
            // code polling between other waits (WIP during an erase) drains them in one pass
            // instead of one pass per byte; the FIFO holds them meanwhile, as on silicon. A frame's
            // end is never held back: a batch ends at the last byte the host has sent.
            const size_t capacity = usb_ ? kUsbPacket : kUartFifoSize;
            const size_t room = capacity > rx_fifo_.size() ? capacity - rx_fifo_.size() : 1;
            const size_t batch = std::clamp<size_t>(room / 8, 1, wire_.size());
            consider(wire_[batch - 1].first);
        }
        consider(flash_busy_until_);
        if (transmitBacklog() >= transmitCapacity() / 2)
            consider(output_[output_.size() - transmitBacklog()].at);
        if (!next) return false;
        if (*next > horizon_ && !withinSentInput(*next)) {
            // The next event lies beyond the present: pause here and go on when it comes.
            cpu_clock_ = std::max(cpu_clock_, horizon_);
            resume_at_ = *next;
            pause_ = true;
            return true;
        }
        cpu_clock_ = *next;
        return true;
    }

    bool fault(double rate) {
        return rate > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < rate;
    }

    // A USB console has no baud rate: a full-speed link moves about a megabyte a second.
    std::chrono::nanoseconds perByte() const {
        if (usb_link_) return std::chrono::nanoseconds(1000);
        return std::chrono::nanoseconds(10'000'000'000ull / std::max<uint32_t>(baud_, 1));
    }

    // Replies leave once the request has fully arrived and the line is free.
    void queueOutput(const std::vector<uint8_t> &bytes, Clock::time_point request_end) {
        auto ready = std::max(request_end, line_free_at_);
        ready = std::max(ready, stall_until_); // a stalled chip answers when it wakes
        auto busy = rom_.flash().takeBusyTime();
        auto transfer = rom_.flash().takeTransferTime();
        const auto work = std::chrono::nanoseconds(rom_.takeCycles() * 1000 / cpuMegahertz());
        if (options_.timing) ready += busy + transfer + work;
        const auto per_byte = options_.timing ? perByte() : std::chrono::nanoseconds(0);
        for (uint8_t byte : bytes) {
            if (fault(options_.faults.drop_rate)) continue;
            if (fault(options_.faults.corrupt_rate)) byte ^= uint8_t(1 + random_() % 255);
            ready += per_byte;
            line_free_at_ = std::chrono::time_point_cast<Clock::duration>(ready);
            output_.push_back({line_free_at_, byte, baud_});
        }
    }

    Options options_;
    const bool usb_;      // the console is USB-Serial-JTAG
    const bool usb_link_; // ... or USB-OTG's CDC: no baud rate, nothing on UART0
    bool otg() const { return usb_link_ && !usb_; }
    Rom rom_;
    slip::Decoder decoder_;
    struct OutputByte {
        Clock::time_point at; // when it has reached the host
        uint8_t byte;
        uint32_t baud; // the chip's rate as it was sent
    };
    std::deque<OutputByte> output_;
    std::mt19937_64 random_;
    uint64_t bytes_in_ = 0;
    Clock::time_point input_clock_{};
    Clock::time_point stall_until_{};
    uint32_t baud_ = 115200;
    std::optional<uint32_t> host_baud_;
    bool connected_ = true;
    bool in_download_mode_ = true;
    std::optional<Clock::time_point> boot_retry_at_; // the ROM looks for an image again
    bool dtr_ = false;
    bool rts_ = false;
    bool usb_download_latch_ = false;

    // Code running on the chip, and the time it has reached (ahead of the host's clock while the
    // timing model is on: replies it makes are held back until then).
    std::unique_ptr<RiscVCore> core_;
    Clock::time_point cpu_clock_{};
    Clock::time_point flash_busy_until_{};
    Clock::time_point spi_idle_at_{}; // when the flash controller's bus goes quiet
    uint64_t cpu_mhz_ = 40;
    std::deque<std::pair<Clock::time_point, uint8_t>> wire_; // host bytes and their arrival times
    std::deque<uint8_t> rx_fifo_; // the console's receive FIFO (UART0's, or USB's OUT endpoint)
    std::vector<uint8_t> usb_in_; // USB's IN endpoint: bytes held until the packet is sent
    std::map<uint32_t, uint32_t> usb_registers_;
    uint32_t uart_int_ena_ = 0, usb_int_ena_ = 0; // interrupt enables, as the ROM left them
    bool code_owns_uart_line_ = false; // the code attached its own handler where the ROM's was
    bool code_owns_usb_line_ = false;
    uint32_t uart_conf1_ = 0;
    std::chrono::microseconds delayed_in_run_{0};
    uint64_t unreported_cycle_fraction_ = 0; // of a nanosecond, in cycles x 1000 / MHz
    uint64_t cycles_since_poll_ = 0;
    uint64_t taken_by_rom_handler_ = 0;
    uint64_t rx_overflows_ = 0;
    Clock::time_point last_overflow_report_{};
    uint32_t clkdiv_ = 0;         // the divider in use
    uint32_t clkdiv_written_ = 0; // the last one written, awaiting UART_REG_UPDATE on some chips
    bool waiting_ = false;
    unsigned empty_polls_ = 0;
    Clock::time_point horizon_{};                // the present, as of the code's last start
    std::optional<Clock::time_point> resume_at_; // paused at the horizon until then
    bool pause_ = false;
    bool sent_in_run_ = false;            // the code has queued bytes for the host in this run
    bool sent_since_status_poll_ = false; // ... since it last read the UART status
    Clock::time_point slice_end_{};
    Clock::time_point line_free_at_{}; // when the last byte queued for the host has been sent
};

} // namespace

llvm::Expected<std::unique_ptr<VirtualChip>> VirtualChip::create(const Options &options) {
    if (!options.chip)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "no chip given for the virtual chip");
    if (options.console == Console::UsbOtg &&
        (!options.chip->usb_otg.max_block ||
         !chipdb::romConsoleWord(*options.chip, options.revision).usb_otg_value))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "console=otg: the virtual %s has no USB-OTG console",
                                       std::string(options.chip->display_name).c_str());
    if (options.console == Console::UsbSerialJtag &&
        (!options.chip->usb_serial_jtag_base ||
         !chipdb::romConsoleWord(*options.chip, options.revision).address))
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            "console=usb: the virtual %s has no USB-Serial-JTAG console (the chip lacks one, or "
            "no Espressif source says where its ROM records it)",
            std::string(options.chip->display_name).c_str());
    SpiFlash::Config config;
    config.size = options.flash_size;
    config.jedec_id = options.jedec_id;
    config.backing_file = options.flash_file;
    config.fail_program_at = options.faults.fail_program_at;
    auto flash = SpiFlash::open(config);
    if (!flash) return flash.takeError();
    return std::unique_ptr<VirtualChip>(new Chip(options, std::move(*flash)));
}

llvm::Expected<Options> parsePortSpec(const std::string &spec) {
    auto fail = [&](const std::string &why) {
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "vchip:%s: %s", spec.c_str(),
                                       why.c_str());
    };
    llvm::StringRef text(spec);
    auto [name, query] = text.split('?');
    Options options;
    options.chip = chipdb::findChip(name);
    if (!options.chip)
        return fail("unknown chip '" + name.str() + "' (choose from " +
                    std::string(chipdb::chipNameList()) + ")");
    llvm::SmallVector<llvm::StringRef, 8> settings;
    query.split(settings, '&', -1, false);
    for (auto setting : settings) {
        auto key_value = setting.split('=');
        llvm::StringRef key = key_value.first, value = key_value.second;
        auto number = [&](uint64_t &out) {
            unsigned long long parsed = 0;
            if (value.getAsInteger(0, parsed)) return false;
            out = parsed;
            return true;
        };
        // A rate that is not a number in [0, 1] is refused, not taken as 0.
        auto probability = [&](double &out) {
            double parsed = 0;
            if (value.getAsDouble(parsed) || !(parsed >= 0 && parsed <= 1)) return false;
            out = parsed;
            return true;
        };
        uint64_t n = 0;
        if (key == "flash")
            options.flash_file = value.str();
        else if (key == "size") {
            uint64_t multiplier = value.endswith("MB")   ? 1 << 20
                                  : value.endswith("KB") ? 1 << 10
                                                         : 1;
            llvm::StringRef digits = multiplier == 1 ? value : value.drop_back(2);
            unsigned long long parsed = 0;
            if (digits.getAsInteger(0, parsed))
                return fail("size=" + value.str() + " is not a size (e.g. 4MB)");
            options.flash_size = static_cast<uint32_t>(parsed * multiplier);
        } else if (key == "jedec" && number(n))
            options.jedec_id = uint32_t(n);
        else if (key == "rev" && number(n))
            options.revision = uint32_t(n);
        else if (key == "timing")
            options.timing = value != "0";
        else if (key == "app_wdt_ms" && number(n))
            options.app_watchdog_ms = uint32_t(n);
        else if (key == "console" && (value == "usb" || value == "otg" || value == "uart"))
            options.console = value == "usb"   ? Console::UsbSerialJtag
                              : value == "otg" ? Console::UsbOtg
                                               : Console::Uart;
        else if (key == "seed" && number(n))
            options.faults.seed = n;
        else if (key == "drop" && probability(options.faults.drop_rate))
            ;
        else if (key == "corrupt" && probability(options.faults.corrupt_rate))
            ;
        else if (key == "corrupt_in" && probability(options.faults.corrupt_in_rate))
            ;
        else if (key == "stall_ms" && number(n))
            options.faults.stall_ms = uint32_t(n);
        else if (key == "stall_after" && number(n))
            options.faults.stall_after_bytes = n;
        else if (key == "disconnect_after" && number(n))
            options.faults.disconnect_after_bytes = n;
        else if (key == "fail_program_at" && number(n))
            options.faults.fail_program_at = uint32_t(n);
        else if (key == "mac") {
            llvm::SmallVector<llvm::StringRef, 6> parts;
            value.split(parts, ':');
            if (parts.size() != 6)
                return fail("mac=" + value.str() + " is not six hex bytes (aa:bb:cc:dd:ee:ff)");
            for (size_t i = 0; i < 6; ++i) {
                unsigned byte = 0;
                if (parts[i].getAsInteger(16, byte) || byte > 255)
                    return fail("mac=" + value.str() + " is not a MAC address");
                options.mac[i] = uint8_t(byte);
            }
        } else {
            return fail("unknown or invalid setting '" + setting.str() + "'");
        }
    }
    return options;
}

} // namespace esptools::vchip
