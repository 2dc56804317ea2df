// The host model behind stub/core/stub_hal.h (see host_hal.h).

#include "host_hal.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "stub_hal.h"

namespace host_hal {

namespace {

std::unique_ptr<Model> g_model = std::make_unique<Model>();

std::string Hex(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%X", value);
    return text;
}

// The TX FIFO drains a little and the host gets a look, every time the stub polls the UART.
void Tick() {
    Uart &uart = g_model->uart;
    size_t n = 0;
    if (++uart.tx_poll_phase >= uart.tx_polls_per_byte) {
        uart.tx_poll_phase = 0;
        if (!uart.tx_fifo.empty()) {
            uart.wire.push_back(uart.tx_fifo.front());
            uart.tx_fifo.pop_front();
            n = 1;
        }
    }
    if (uart.on_poll) uart.on_poll();
    if (n > 0 || !uart.rx.empty()) {
        uart.idle_polls = 0;
    } else if (++uart.idle_polls > uart.idle_poll_limit) {
        uart.idle_polls = 0;
        throw Stalled("the stub waits for UART input that never comes");
    }
}

enum : uint8_t {
    kWriteEnable = 0x06,
    kReadStatus = 0x05,
    kRead = 0x03,
    kPageProgram = 0x02,
    kSectorErase = 0x20,
    kBlockErase64K = 0xD8,
    kChipErase = 0xC7,
};

void FlashTransaction(uint8_t command, int32_t address, const uint8_t *mosi, uint32_t mosi_len,
                      uint8_t *miso, uint32_t miso_len) {
    Flash &flash = g_model->flash;
    auto violation = [&](const std::string &what) {
        flash.violations.push_back(what + " (command " + Hex(command) + ", address " +
                                   (address < 0 ? std::string("none") : Hex(uint32_t(address))) +
                                   ")");
    };
    if (mosi_len > 64 || miso_len > 64) return violation("transfer over 64 bytes");
    if (mosi_len && !mosi) return violation("no MOSI buffer");
    if (miso_len && !miso) return violation("no MISO buffer");
    const bool needs_address = command == kRead || command == kPageProgram ||
                               command == kSectorErase || command == kBlockErase64K;
    if (command != kReadStatus) g_model->uart.idle_polls = 0; // the stub is busy, not waiting
    if (needs_address != (address >= 0)) return violation("address phase mismatch");
    if (address >= 0 && uint32_t(address) >= (1u << 24)) return violation("address over 24 bits");
    const uint32_t at = address >= 0 ? uint32_t(address) % kFlashSize : 0;

    if (command == kReadStatus) {
        if (miso_len == 0 || mosi_len) return violation("RDSR shape");
        uint8_t status = uint8_t((flash.busy_polls ? 0x01 : 0) | (flash.write_enabled ? 0x02 : 0));
        std::fill(miso, miso + miso_len, status);
        if (flash.busy_polls && --flash.busy_polls == 0) flash.write_enabled = false;
        return;
    }
    if (flash.busy_polls) {
        if (miso_len) std::fill(miso, miso + miso_len, 0xA5); // nobody drives MISO
        return violation("command while busy");
    }
    switch (command) {
    case kWriteEnable:
        if (mosi_len || miso_len) return violation("WREN shape");
        if (!flash.write_protected) flash.write_enabled = true;
        return;
    case kRead:
        if (mosi_len || miso_len == 0) return violation("READ shape");
        ++flash.reads;
        for (uint32_t i = 0; i < miso_len; ++i) miso[i] = flash.bytes[(at + i) % kFlashSize];
        return;
    case kPageProgram: {
        if (miso_len || mosi_len == 0) return violation("PP shape");
        if (!flash.write_enabled) return violation("PP without WREN");
        if ((at & 0xFF) + mosi_len > 0x100) violation("PP crosses its page (wraps)");
        ++flash.page_programs;
        for (uint32_t i = 0; i < mosi_len; ++i) {
            uint32_t target = (at & ~0xFFu) | ((at + i) & 0xFFu); // wraps inside the page
            if (flash.stuck_at && *flash.stuck_at == target) continue;
            flash.bytes[target] &= mosi[i];
        }
        flash.busy_polls = flash.program_busy_polls;
        break;
    }
    case kSectorErase:
    case kBlockErase64K:
    case kChipErase: {
        if (mosi_len || miso_len) return violation("erase shape");
        if (!flash.write_enabled) return violation("erase without WREN");
        uint32_t size = command == kSectorErase     ? 0x1000u
                        : command == kBlockErase64K ? 0x10000u
                                                    : kFlashSize;
        uint32_t start = at & ~(size - 1);
        std::fill(flash.bytes.begin() + start, flash.bytes.begin() + start + size, 0xFF);
        ++(command == kSectorErase     ? flash.sector_erases
           : command == kBlockErase64K ? flash.block_erases
                                       : flash.chip_erases);
        flash.busy_polls = flash.erase_busy_polls;
        break;
    }
    default:
        return violation("unknown command");
    }
    if (flash.busy_polls == 0) flash.write_enabled = false;
}

} // namespace

Model &model() {
    return *g_model;
}

void Reset() {
    g_model = std::make_unique<Model>();
}

} // namespace host_hal

using host_hal::g_model;

extern "C" {

void hal_init(void) {
    ++g_model->inits;
}

uint32_t hal_uart_rx_count(void) {
    host_hal::Tick();
    host_hal::Uart &uart = g_model->uart;
    return uint32_t(std::min<size_t>(uart.rx.size(), uart.rx_fifo_view));
}

uint8_t hal_uart_rx_byte(void) {
    host_hal::Uart &uart = g_model->uart;
    if (uart.rx.empty()) {
        uart.violations.push_back("RX FIFO read while empty");
        return 0;
    }
    uint8_t byte = uart.rx.front();
    uart.rx.pop_front();
    return byte;
}

uint32_t hal_uart_tx_room(void) {
    host_hal::Tick();
    return host_hal::kUartFifoSize - uint32_t(g_model->uart.tx_fifo.size());
}

void hal_uart_flush(void) {}

void hal_uart_tx_byte(uint8_t byte) {
    host_hal::Uart &uart = g_model->uart;
    if (uart.tx_fifo.size() >= host_hal::kUartFifoSize)
        uart.violations.push_back("TX FIFO overrun");
    uart.tx_fifo.push_back(byte);
}

bool hal_uart_tx_idle(void) {
    host_hal::Tick();
    return g_model->uart.tx_fifo.empty();
}

void hal_uart_change_baud(uint32_t new_baud, uint32_t old_baud) {
    host_hal::Uart &uart = g_model->uart;
    uart.baud_changes.emplace_back(new_baud, old_baud);
    uart.wire_size_at_baud_change.push_back(uart.wire.size());
    uart.tx_fifo_size_at_baud_change = uart.tx_fifo.size();
}

// The model's controller answers at once; hal_spi_end hands over what hal_spi_begin received.
static uint8_t g_spi_received[64];
static uint32_t g_spi_received_length = 0;
static bool g_spi_begun = false;

void hal_spi_begin(uint8_t command, uint32_t address, uint32_t address_bits, const uint8_t *mosi,
                   uint32_t mosi_len, uint32_t miso_len) {
    // The model is a 16 MB-or-smaller part: it speaks 24-bit addresses only.
    if (address_bits != 0 && address_bits != 24)
        g_model->flash.violations.push_back("a " + std::to_string(address_bits) +
                                            "-bit address to a 3-byte part");
    if (g_spi_begun)
        g_model->flash.violations.push_back("a transaction begun before the last one ended");
    if (miso_len > sizeof g_spi_received)
        g_model->flash.violations.push_back("more than 64 bytes asked of one transaction");
    g_spi_begun = true;
    g_spi_received_length = std::min<uint32_t>(miso_len, sizeof g_spi_received);
    host_hal::FlashTransaction(command, address_bits ? int32_t(address) : -1, mosi, mosi_len,
                               g_spi_received, g_spi_received_length);
}

// The model's part reads on one line.
const bool hal_spi_dual_read = false;
void hal_spi_begin_dual_read(uint8_t command, uint32_t address, uint32_t address_bits,
                             uint32_t miso_len) {
    hal_spi_begin(command, address, address_bits, 0, 0, miso_len);
}

void hal_spi_end(uint8_t *miso, uint32_t miso_len) {
    if (!g_spi_begun)
        g_model->flash.violations.push_back("a transaction ended that was not begun");
    else if (miso_len != g_spi_received_length)
        g_model->flash.violations.push_back("a transaction ended with another length than begun");
    if (miso_len) std::memcpy(miso, g_spi_received, std::min(miso_len, g_spi_received_length));
    g_spi_begun = false;
}

void hal_spi_attach(uint32_t pin_config) {
    g_model->attaches.push_back(pin_config);
}

uint32_t hal_read_register(uint32_t address) {
    auto it = g_model->registers.find(address);
    return it == g_model->registers.end() ? 0 : it->second;
}

void hal_write_register(uint32_t address, uint32_t value) {
    g_model->registers[address] = value;
}

void hal_delay_us(uint32_t microseconds) {
    g_model->delays_us.push_back(microseconds);
}

// On the chip this never returns; stub.c returns from the command after it, which lets the host
// model simply record the entry point.
void hal_jump(uint32_t entry) {
    g_model->jumps.push_back(entry);
    g_model->wire_size_at_jump.push_back(g_model->uart.wire.size());
    g_model->tx_fifo_size_at_jump = g_model->uart.tx_fifo.size();
}

} // extern "C"
