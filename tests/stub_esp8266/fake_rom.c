/* The fake ESP8266 ROM and peripherals of the QEMU smoke test (run_smoke.py).
 *
 * QEMU's `-M sim -cpu lx106` machine is an lx106 core with plain RAM: no ESP8266 ROM and no UART or
 * SPI controller (0x60000000 is RAM there). So the test image links the stub with sim_hal.c, which
 * is stub/hal/esp8266.c with its register accesses redirected to sim_reg_read/sim_reg_write below,
 * and this file models what those registers do:
 *  - UART0: the RX FIFO is fed from uart-rx.bin (the host's request frames) a few bytes per status
 *    poll, as if arriving on the line, and like a host the model sends the next request only once
 *    the stub has answered the last one (a frame came back, and the stub polls without sending);
 *    bytes written to the TX FIFO go to uart-tx.bin.
 *  - SPI0: the user-command engine with the ESP8266's register layout (bit lengths in USER1, the
 *    address MSB-aligned, W0 at 0x40) in front of a NOR flash model in RAM (program only clears
 *    bits, erase needs WREN, busy for a while after program/erase). flash-initial.bin is its first
 *    contents; flash.bin receives its last.
 * Anything the model does not expect (an empty FIFO read, a command while busy, an unknown command)
 * ends the run with an error, as do CPU exceptions (fake_rom_start.S).
 * The ROM routines the stub calls are the fake_<name> functions here; rom_entries.S, generated from
 * stub/chips/esp8266/rom.ld, puts a jump to each at the routine's real address.
 * Files are opened through QEMU's semihosting, relative to its working directory. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- semihosting (QEMU -semihosting; Xtensa ISS calls: a2 = call, a3.. = arguments) ---- */

enum { SYS_EXIT = 1, SYS_READ = 3, SYS_WRITE = 4, SYS_OPEN = 5 };

static int32_t simcall(int32_t call, int32_t a, int32_t b, int32_t c) {
    register int32_t a2 __asm__("a2") = call;
    register int32_t a3 __asm__("a3") = a;
    register int32_t a4 __asm__("a4") = b;
    register int32_t a5 __asm__("a5") = c;
    /* SIMCALL, which the lx106 assembler does not know */
    __asm__ volatile(".byte 0x00, 0x51, 0x00" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
    return a2;
}

static int32_t host_open(const char *name, int32_t flags) {
    return simcall(SYS_OPEN, (int32_t)(uintptr_t)name, flags, 0);
}
static int32_t host_read(int32_t fd, void *buffer, uint32_t length) {
    return simcall(SYS_READ, fd, (int32_t)(uintptr_t)buffer, (int32_t)length);
}
static void host_write(int32_t fd, const void *buffer, uint32_t length) {
    simcall(SYS_WRITE, fd, (int32_t)(uintptr_t)buffer, (int32_t)length);
}
static uint32_t length_of(const char *text) {
    uint32_t n = 0;
    while (text[n]) ++n;
    return n;
}
static void say(const char *text) {
    host_write(2, text, length_of(text));
}
static void say_hex(uint32_t value) {
    char digits[11] = "0x";
    for (int i = 0; i < 8; ++i) digits[2 + i] = "0123456789abcdef"[(value >> (28 - 4 * i)) & 0xF];
    digits[10] = 0;
    say(digits);
}

static void flush_tx(void);

__attribute__((noreturn)) static void finish(int32_t code) {
    flush_tx();
    simcall(SYS_EXIT, code, 0, 0);
    for (;;) {
    }
}

/* A run that breaks the model's rules stops with exit code 3 and says why. */
__attribute__((noreturn)) static void violation(const char *what, uint32_t value) {
    say("fake ROM: ");
    say(what);
    say(" ");
    say_hex(value);
    say("\n");
    finish(3);
}

/* ---- files ------------------------------------------------------------------------------- */

enum {
    OPEN_READ = 0,
    OPEN_WRITE = 1
}; /* O_RDONLY and O_WRONLY: the same on the host and in newlib */

static int32_t rx_file = -1, tx_file = -1;

/* ---- UART0 ------------------------------------------------------------------------------- */

#define UART_BASE 0x60000000u
#define UART_FIFO (UART_BASE + 0x00)
#define UART_INT_ENA (UART_BASE + 0x0C)
#define UART_INT_CLR (UART_BASE + 0x10)
#define UART_CLKDIV (UART_BASE + 0x14)
#define UART_STATUS (UART_BASE + 0x1C)
#define UART_FIFO_SIZE 128u
#define UART_ARRIVING_PER_POLL 40u /* bytes that "arrive" between two status reads */

static struct {
    uint8_t input[1024]; /* read ahead from uart-rx.bin */
    uint32_t input_length, input_position;
    bool input_done;
    uint8_t fifo[UART_FIFO_SIZE];
    uint32_t fifo_head, fifo_count;
    bool inside_request;     /* between a request's opening and closing 0xC0 */
    bool waiting_for_answer; /* a request went out: the next waits for a frame back */
    uint32_t answers_before; /* frames sent back when the last request went out */
    bool inside_answer;
    uint32_t answers;     /* frames the stub has sent back (OHAI included) */
    uint32_t quiet_polls; /* status reads since the stub last sent a byte */
    uint8_t output[1024];
    uint32_t output_length;
    uint32_t clkdiv, int_ena;
    bool int_ena_cleared;
} uart = {
    .waiting_for_answer = true, /* for OHAI */
    .clkdiv = 451,              /* 115200 baud from 52 MHz */
    .int_ena = 0x1,             /* the ROM's RX interrupt */
};

static void flush_tx(void) {
    if (uart.output_length && tx_file >= 0) host_write(tx_file, uart.output, uart.output_length);
    uart.output_length = 0;
}

static bool next_input_byte(uint8_t *byte) {
    if (uart.input_position == uart.input_length) {
        if (uart.input_done) return false;
        int32_t n = host_read(rx_file, uart.input, sizeof uart.input);
        if (n <= 0) {
            uart.input_done = true;
            return false;
        }
        uart.input_length = (uint32_t)n;
        uart.input_position = 0;
    }
    *byte = uart.input[uart.input_position++];
    return true;
}

static uint32_t uart_status(void) {
    /* Answered, and done answering (SYNC has eight): the host sends the next request. */
    if (uart.waiting_for_answer && uart.answers > uart.answers_before && ++uart.quiet_polls > 2)
        uart.waiting_for_answer = false;
    for (uint32_t arriving = UART_ARRIVING_PER_POLL; arriving > 0; --arriving) {
        uint8_t byte;
        if (uart.waiting_for_answer || uart.fifo_count == UART_FIFO_SIZE) break;
        if (!next_input_byte(&byte)) break;
        uart.fifo[(uart.fifo_head + uart.fifo_count++) % UART_FIFO_SIZE] = byte;
        if (byte == 0xC0) {
            if (uart.inside_request) {
                uart.waiting_for_answer = true;
                uart.answers_before = uart.answers;
            }
            uart.inside_request = !uart.inside_request;
        }
    }
    return uart.fifo_count; /* TXFIFO_CNT (bits 23:16) stays 0: the line takes bytes at once */
}

static uint8_t uart_pop(void) {
    if (uart.fifo_count == 0) violation("read of an empty UART RX FIFO", 0);
    uint8_t byte = uart.fifo[uart.fifo_head];
    uart.fifo_head = (uart.fifo_head + 1) % UART_FIFO_SIZE;
    --uart.fifo_count;
    return byte;
}

static void uart_push(uint32_t value) {
    uart.quiet_polls = 0;
    if ((uint8_t)value == 0xC0) {
        if (uart.inside_answer) ++uart.answers;
        uart.inside_answer = !uart.inside_answer;
    }
    uart.output[uart.output_length++] = (uint8_t)value;
    /* Whole frames reach the file at once, so a run that hangs still shows what it answered. */
    if (uart.output_length == sizeof uart.output || !uart.inside_answer) flush_tx();
}

/* ---- SPI0 and the flash behind it -------------------------------------------------------- */

#define SPI_BASE 0x60000200u
#define SPI_CMD 0x00u
#define SPI_ADDR 0x04u
#define SPI_USER 0x1Cu
#define SPI_USER1 0x20u
#define SPI_USER2 0x24u
#define SPI_W0 0x40u
#define SPI_CMD_USR (1u << 18)
#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_ADDR (1u << 30)
#define SPI_USR_DUMMY (1u << 29)
#define SPI_USR_MISO (1u << 28)
#define SPI_USR_MOSI (1u << 27)
/* What the ROM leaves in USER/USER2 (any value: the HAL must put them back). */
#define ROM_SPI_USER 0x80000064u
#define ROM_SPI_USER2 0x70000003u

#define FLASH_SIZE 0x20000u
static uint8_t flash[FLASH_SIZE];

static struct {
    uint32_t registers[64]; /* 0x60000200..0x600002FC */
    uint32_t busy_polls;    /* CMD reads that still show the user command running */
    bool write_enabled;
    uint32_t flash_busy; /* status reads that still show WIP after a program or erase */
    uint32_t programs, erases;
} spi;

static void flash_erase(uint32_t address, uint32_t size) {
    address &= ~(size - 1);
    for (uint32_t i = 0; i < size; ++i) flash[(address + i) % FLASH_SIZE] = 0xFF;
    ++spi.erases;
}

static void spi_execute(void) {
    uint32_t *r = spi.registers;
    const uint32_t user = r[SPI_USER / 4], user1 = r[SPI_USER1 / 4], user2 = r[SPI_USER2 / 4];
    if (!(user & SPI_USR_COMMAND)) violation("SPI user command without a command phase", user);
    if (user & SPI_USR_DUMMY) violation("SPI user command with dummy cycles", user);
    if ((user2 >> 28) != 7) violation("SPI command length is not 8 bits", user2);
    if (user2 & 0x0FFF0000u || (user2 & 0xFFFF) > 0xFF) violation("SPI command value", user2);
    const uint8_t command = (uint8_t)user2;
    const bool has_address = user & SPI_USR_ADDR;
    uint32_t address = 0, mosi_bits = 0, miso_bits = 0;
    if (has_address) {
        if ((user1 >> 26) != 23) violation("SPI address length is not 24 bits", user1);
        if (r[SPI_ADDR / 4] & 0xFF) violation("SPI address is not MSB-aligned", r[SPI_ADDR / 4]);
        address = r[SPI_ADDR / 4] >> 8;
    }
    if (user & SPI_USR_MOSI) mosi_bits = ((user1 >> 17) & 0x1FF) + 1;
    if (user & SPI_USR_MISO) miso_bits = ((user1 >> 8) & 0x1FF) + 1;
    if (mosi_bits % 8 || miso_bits % 8) violation("SPI data length is not whole bytes", user1);
    const uint32_t mosi_length = mosi_bits / 8, miso_length = miso_bits / 8;
    uint8_t *w = (uint8_t *)&r[SPI_W0 / 4]; /* W0..W15, little-endian like the lx106 */
    const bool busy = spi.flash_busy > 0;
    const bool shape_ok_none = !has_address && !mosi_length && !miso_length;
    switch (command) {
    case 0x06: /* WREN */
    case 0x04: /* WRDI */
        if (!shape_ok_none) violation("WREN/WRDI with address or data", user);
        if (busy) violation("WREN/WRDI while the flash is busy", command);
        spi.write_enabled = command == 0x06;
        return;
    case 0x05: /* RDSR */
        if (has_address || mosi_length || miso_length != 1) violation("RDSR shape", user1);
        w[0] = (uint8_t)((busy ? 1 : 0) | (spi.write_enabled ? 2 : 0));
        if (busy) --spi.flash_busy;
        return;
    case 0x03: /* READ */
        if (!has_address || mosi_length || !miso_length) violation("READ shape", user1);
        if (busy) violation("READ while the flash is busy", address);
        for (uint32_t i = 0; i < miso_length; ++i) w[i] = flash[(address + i) % FLASH_SIZE];
        return;
    case 0x02: /* PP */
        if (!has_address || !mosi_length || miso_length) violation("PP shape", user1);
        if (busy) violation("PP while the flash is busy", address);
        if (!spi.write_enabled) return;            /* ignored, as by a real chip */
        for (uint32_t i = 0; i < mosi_length; ++i) /* wraps within the 256-byte page */
            flash[((address & ~0xFFu) | ((address + i) & 0xFFu)) % FLASH_SIZE] &= w[i];
        ++spi.programs;
        spi.write_enabled = false;
        spi.flash_busy = 1;
        return;
    case 0x20: /* SE */
    case 0xD8: /* BE 64K */
        if (!has_address || mosi_length || miso_length) violation("erase shape", user1);
        if (busy) violation("erase while the flash is busy", address);
        if (!spi.write_enabled) return;
        flash_erase(address, command == 0x20 ? 0x1000 : 0x10000);
        spi.write_enabled = false;
        spi.flash_busy = command == 0x20 ? 3 : 6;
        return;
    case 0xC7: /* CE */
        if (!shape_ok_none) violation("chip erase shape", user1);
        if (busy) violation("chip erase while the flash is busy", 0);
        if (!spi.write_enabled) return;
        flash_erase(0, FLASH_SIZE);
        spi.write_enabled = false;
        spi.flash_busy = 10;
        return;
    default:
        violation("SPI flash command the model does not know", command);
    }
}

/* ---- the stub's register accesses (sim_hal.c) -------------------------------------------- */

/* READ_REG of this address ends the run: the test's last request. */
#define SIM_EXIT_REGISTER 0x6FFFFFFCu

static void check_and_exit(void);

uint32_t sim_reg_read(uint32_t address) {
    if (address == SIM_EXIT_REGISTER) check_and_exit();
    if (address - UART_BASE < 0x80) {
        switch (address) {
        case UART_FIFO:
            return uart_pop();
        case UART_STATUS:
            return uart_status();
        case UART_CLKDIV:
            return uart.clkdiv;
        case UART_INT_ENA:
            return uart.int_ena;
        default:
            violation("read of a UART register the model does not know", address);
        }
    }
    if (address - SPI_BASE < 0x100) {
        uint32_t offset = address - SPI_BASE;
        if (offset == SPI_CMD && spi.busy_polls) {
            if (--spi.busy_polls == 0) spi.registers[0] &= ~SPI_CMD_USR;
            return spi.registers[0] | SPI_CMD_USR;
        }
        return spi.registers[offset / 4];
    }
    if (address % 4) violation("unaligned register read", address);
    return *(volatile uint32_t *)(uintptr_t)address; /* READ_REG of memory, e.g. the chip magic */
}

void sim_reg_write(uint32_t address, uint32_t value) {
    if (address - UART_BASE < 0x80) {
        switch (address) {
        case UART_FIFO:
            return uart_push(value);
        case UART_CLKDIV:
            uart.clkdiv = value;
            return;
        case UART_INT_ENA:
            uart.int_ena = value;
            uart.int_ena_cleared |= value == 0;
            return;
        case UART_INT_CLR:
            return;
        default:
            violation("write of a UART register the model does not know", address);
        }
    }
    if (address - SPI_BASE < 0x100) {
        uint32_t offset = address - SPI_BASE;
        if (spi.busy_polls) violation("SPI register written while a command runs", address);
        if (offset == SPI_CMD) {
            if (value != SPI_CMD_USR) violation("SPI command other than a user command", value);
            spi_execute();
            spi.registers[0] = SPI_CMD_USR;
            spi.busy_polls = 2; /* the HAL must wait for the command to finish */
            return;
        }
        spi.registers[offset / 4] = value;
        return;
    }
    if (address % 4) violation("unaligned register write", address);
    *(volatile uint32_t *)(uintptr_t)address = value;
}

/* ---- ROM routines ------------------------------------------------------------------------ */

static struct {
    uint32_t delayed_us;
    bool user_start_cleared, spi_selected, flash_attached;
} rom;

void fake_ets_delay_us(uint32_t microseconds) {
    rom.delayed_us += microseconds;
}
void fake_ets_set_user_start(uint32_t entry) {
    if (entry != 0) violation("ets_set_user_start with a non-zero entry", entry);
    rom.user_start_cleared = true;
}
void fake_SelectSpiFunction(uint32_t hspi) {
    if (hspi != 0) violation("SelectSpiFunction for HSPI", hspi);
    rom.spi_selected = true;
}
void fake_spi_flash_attach(void) {
    if (!rom.spi_selected) violation("spi_flash_attach before SelectSpiFunction", 0);
    rom.flash_attached = true;
}

/* ---- start and end ----------------------------------------------------------------------- */

extern void stub_entry(void);

static int32_t open_or_fail(const char *name, int32_t flags) {
    int32_t fd = host_open(name, flags);
    if (fd < 0) {
        say("fake ROM: cannot open ");
        say(name);
        say("\n");
        finish(2);
    }
    return fd;
}

/* Called by the reset code with a stack; calls the stub as the ROM's MEM_END does. */
void fake_rom_main(void) {
    int32_t initial = open_or_fail("flash-initial.bin", OPEN_READ);
    if (host_read(initial, flash, FLASH_SIZE) != (int32_t)FLASH_SIZE) {
        say("fake ROM: flash-initial.bin is not 128 KiB\n");
        finish(2);
    }
    rx_file = open_or_fail("uart-rx.bin", OPEN_READ);
    tx_file = open_or_fail("uart-tx.bin", OPEN_WRITE);
    spi.registers[SPI_USER / 4] = ROM_SPI_USER;
    spi.registers[SPI_USER2 / 4] = ROM_SPI_USER2;
    stub_entry();
    say("fake ROM: the stub returned from its entry\n");
    finish(4);
}

/* ROM_RETURN_ADDRESS: where a return from the stub's entry shim lands. */
__attribute__((noreturn)) void fake_rom_boot(void) {
    say("fake ROM: the stub returned to the ROM's boot path\n");
    finish(4);
}

/* From the exception vectors: which one, and what the CPU says. */
__attribute__((noreturn)) void fake_exception(uint32_t vector) {
    uint32_t cause, pc, address;
    __asm__ volatile("rsr %0, exccause" : "=r"(cause));
    if (vector == 0x70) /* a double exception keeps its PC elsewhere */
        __asm__ volatile("rsr %0, depc" : "=r"(pc));
    else
        __asm__ volatile("rsr %0, epc1" : "=r"(pc));
    __asm__ volatile("rsr %0, excvaddr" : "=r"(address));
    say("fake ROM: CPU exception at vector ");
    say_hex(vector);
    say(", cause ");
    say_hex(cause);
    say(", pc ");
    say_hex(pc);
    say(", address ");
    say_hex(address);
    say("\n");
    finish(5);
}

static void check_and_exit(void) {
    if (!uart.int_ena_cleared) violation("the stub left the ROM's UART interrupts enabled", 0);
    if (!rom.user_start_cleared) violation("the stub did not clear the ROM's user start", 0);
    if (!rom.flash_attached) violation("the stub did not attach the flash", 0);
    if (spi.registers[SPI_USER / 4] != ROM_SPI_USER ||
        spi.registers[SPI_USER2 / 4] != ROM_SPI_USER2)
        violation("the stub did not restore SPI_USER/SPI_USER2", spi.registers[SPI_USER / 4]);
    if (uart.fifo_count || !uart.input_done || uart.input_position != uart.input_length) {
        uint8_t byte;
        if (uart.fifo_count || next_input_byte(&byte))
            violation("requests left unread at the end", uart.fifo_count);
    }
    int32_t dump = open_or_fail("flash.bin", OPEN_WRITE);
    host_write(dump, flash, FLASH_SIZE);
    say("fake ROM: done; flash programs ");
    say_hex(spi.programs);
    say(", erases ");
    say_hex(spi.erases);
    say("\n");
    finish(0);
}
