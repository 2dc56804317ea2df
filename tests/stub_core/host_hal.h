// A host model of what stub/core/stub_hal.h asks of a chip, for the native tests of the stub's
// protocol core: a UART with a 128-byte TX FIFO that drains onto a "wire" the test reads, an RX
// queue the test fills, an SPI NOR flash behind hal_spi_begin and hal_spi_end, registers in a map,
// and records of delays, attaches, baud changes and jumps. Single-threaded: the "host" side runs
// from a callback whenever the stub polls its UART, which is where a real host's bytes would show
// up.
#ifndef ESPTOOLS_TESTS_STUB_CORE_HOST_HAL_H
#define ESPTOOLS_TESTS_STUB_CORE_HOST_HAL_H

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace host_hal {

constexpr uint32_t kFlashSize = 4u << 20;
constexpr uint32_t kUartFifoSize = 128;

// Thrown from the HAL when the stub waits for something that can never come (no byte moves for
// too long), so a hang becomes a test failure. The stub's C code is built with -fexceptions.
struct Stalled : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// SPI NOR flash with the rules that matter to a writer: program only clears bits and wraps inside
// its 256-byte page, erase sets 0xFF, program/erase need WREN first and clear WEL, the flash is
// busy (WIP) for a few status polls afterwards and takes no command but RDSR meanwhile.
struct Flash {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(kFlashSize, 0xFF);
    bool write_enabled = false;
    unsigned busy_polls = 0;          // RDSR polls still answered with WIP set
    unsigned program_busy_polls = 1;  // WIP duration of a page program, in status polls
    unsigned erase_busy_polls = 3;    // ... of an erase
    std::optional<uint32_t> stuck_at; // a byte a page program cannot change (failing flash)
    bool write_protected = false;     // WREN does not set WEL (protected flash)

    unsigned reads = 0, page_programs = 0, sector_erases = 0, block_erases = 0, chip_erases = 0;
    // Everything a well-behaved driver never does: command while busy, program/erase without
    // WEL, a page program crossing its page, transfers over the controller's 64-byte buffer, ...
    std::vector<std::string> violations;

    void Fill(uint8_t value) { bytes.assign(bytes.size(), value); }
};

struct Uart {
    std::deque<uint8_t> rx;                // host -> stub, not yet read by the stub
    uint32_t rx_fifo_view = kUartFifoSize; // most bytes one hal_uart_rx_count() reports
    std::deque<uint8_t> tx_fifo;           // written by the stub, not yet on the wire
    // The line is slower than the CPU: one byte leaves the TX FIFO every `tx_polls_per_byte` polls
    // of the UART, so the FIFO fills while the stub sends and it reads its RX FIFO meanwhile.
    uint32_t tx_polls_per_byte = 2;
    uint32_t tx_poll_phase = 0;
    std::vector<uint8_t> wire; // stub -> host, everything that left the TX FIFO
    std::vector<std::string> violations;

    // The host: called each time the stub polls the UART (after the TX FIFO drained a little).
    std::function<void()> on_poll;
    // Polls in a row with no byte moving either way and no flash work in between; over the limit
    // -> Stalled.
    uint64_t idle_polls = 0, idle_poll_limit = 200000;

    std::vector<std::pair<uint32_t, uint32_t>> baud_changes; // (new, old)
    std::vector<size_t> wire_size_at_baud_change;
    size_t tx_fifo_size_at_baud_change = 0;

    void Push(const std::vector<uint8_t> &bytes) {
        rx.insert(rx.end(), bytes.begin(), bytes.end());
    }
    // Time passes with the stub idle: everything in the TX FIFO goes out.
    void Settle() {
        wire.insert(wire.end(), tx_fifo.begin(), tx_fifo.end());
        tx_fifo.clear();
    }
};

struct Model {
    Flash flash;
    Uart uart;
    std::map<uint32_t, uint32_t> registers;
    std::vector<uint32_t> delays_us;
    std::vector<uint32_t> attaches;
    std::vector<uint32_t> jumps;
    std::vector<size_t> wire_size_at_jump;
    size_t tx_fifo_size_at_jump = 0;
    unsigned inits = 0;
};

Model &model();
// A fresh model (erased flash, empty UART and registers).
void Reset();

} // namespace host_hal

#endif
