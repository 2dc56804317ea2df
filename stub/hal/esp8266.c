/* The HAL for the ESP8266 (Xtensa lx106, call0 ABI): UART0 and the SPI0 flash controller's
 * user-command engine through their registers (addresses from chips/esp8266/chip.h), a few ROM
 * routines (chips/esp8266/rom.ld).
 *
 * Flash goes through the registers, as on the RISC-V chips, because the portable core drives the
 * flash chip itself (stub/core/flash.c: WREN, RDSR, READ, PP, SE/BE one command at a time); the
 * ROM's SPIRead/SPIWrite/SPIEraseSector would need a different core. esptool drives the same
 * engine on the ESP8266 (run_spiflash_command), with its own layout: the bit lengths all live in
 * SPI_USER1, there are no MOSI/MISO_DLEN registers, the address is MSB-aligned and W0 is at 0x40.
 *
 * tests/stub_esp8266 builds this file with REG_READ/REG_WRITE redirected to a peripheral model,
 * since QEMU's lx106 machine has no ESP8266 peripherals. */
#include "chip.h"
#include "stub.h"
#include "stub_hal.h"

/* ROM routines, bound by chips/esp8266/rom.ld. */
extern void ets_delay_us(uint32_t microseconds);
extern void ets_set_user_start(uint32_t entry);
/* The SDK headers disagree on whether it takes the HSPI flag; 0 (plain SPI) is right either way. */
extern void SelectSpiFunction(uint32_t hspi);
extern void spi_flash_attach(void);

#ifndef REG_READ
#define REG_READ(address) (*(volatile uint32_t *)(uintptr_t)(address))
#define REG_WRITE(address, value) (*(volatile uint32_t *)(uintptr_t)(address) = (value))
#endif

#define UART_FIFO (UART_BASE + 0x00)
#define UART_INT_ENA (UART_BASE + 0x0C)
#define UART_INT_CLR (UART_BASE + 0x10)
#define UART_CLKDIV (UART_BASE + 0x14)
#define UART_STATUS (UART_BASE + 0x1C)
#define UART_FIFO_SIZE 128u
#define UART_CLKDIV_MASK 0xFFFFFu

#define SPI_CMD (SPI_BASE + 0x00)
#define SPI_ADDR (SPI_BASE + 0x04)
#define SPI_USER (SPI_BASE + 0x1C)
#define SPI_USER1 (SPI_BASE + 0x20)
#define SPI_USER2 (SPI_BASE + 0x24)
#define SPI_W0 (SPI_BASE + 0x40)
#define SPI_CMD_USR (1u << 18)
#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_ADDR (1u << 30)
#define SPI_USR_MISO (1u << 28)
#define SPI_USR_MOSI (1u << 27)
/* SPI_USER1: bit lengths minus one. */
#define SPI_USR_ADDR_BITLEN_SHIFT 26
#define SPI_USR_MOSI_BITLEN_SHIFT 17
#define SPI_USR_MISO_BITLEN_SHIFT 8

void hal_init(void) {
    /* MEM_END made the stub the ROM's user start; clear it (as Espressif's stubs do), so a return
     * to the ROM boots from flash instead of entering the stub again. */
    ets_set_user_start(0);
    /* The ROM's download mode receives through its UART interrupt handler, which would take bytes
     * out of the FIFO before the core polls it. */
    REG_WRITE(UART_INT_ENA, 0);
    REG_WRITE(UART_INT_CLR, 0x1FF);
    /* The host does not send SPI_ATTACH to an ESP8266 stub: attach the flash here. */
    hal_spi_attach(0);
}

uint32_t hal_uart_rx_count(void) {
    return REG_READ(UART_STATUS) & 0xFF;
}
uint8_t hal_uart_rx_byte(void) {
    return (uint8_t)REG_READ(UART_FIFO);
}
uint32_t hal_uart_tx_room(void) {
    uint32_t used = (REG_READ(UART_STATUS) >> 16) & 0xFF;
    return used < UART_FIFO_SIZE ? UART_FIFO_SIZE - used : 0;
}
void hal_uart_tx_byte(uint8_t byte) {
    REG_WRITE(UART_FIFO, byte);
}
void hal_uart_flush(void) {}
bool hal_uart_tx_idle(void) {
    return ((REG_READ(UART_STATUS) >> 16) & 0xFF) == 0;
}

void hal_uart_change_baud(uint32_t new_baud, uint32_t old_baud) {
    if (new_baud == 0 || old_baud == 0) return;
    /* An integer divider of the UART clock (bits 19:0). The ESP8266 cannot tell its crystal, so
     * the divider the ROM calibrated to the host's rate is scaled rather than computed. */
    uint32_t divider = REG_READ(UART_CLKDIV) & UART_CLKDIV_MASK;
    uint32_t scaled = divider <= 0xFFFFFFFFu / old_baud
                          ? (divider * old_baud + new_baud / 2) / new_baud
                          : divider / new_baud * old_baud;
    if (scaled == 0 || scaled > UART_CLKDIV_MASK) return;
    hal_delay_us(5000); /* the last byte of the answer leaves the shift register */
    REG_WRITE(UART_CLKDIV, scaled);
}

/* Saved at begin and restored at end, as esptool does: the ROM's own flash routines use them. */
static uint32_t saved_user, saved_user2;

void hal_spi_begin(uint8_t command, uint32_t address, uint32_t address_bits, const uint8_t *mosi,
                   uint32_t mosi_len, uint32_t miso_len) {
    saved_user = REG_READ(SPI_USER);
    saved_user2 = REG_READ(SPI_USER2);
    uint32_t user = SPI_USR_COMMAND, lengths = 0;
    if (address_bits) {
        user |= SPI_USR_ADDR;
        lengths |= (address_bits - 1) << SPI_USR_ADDR_BITLEN_SHIFT;
        REG_WRITE(SPI_ADDR, address << (32 - address_bits)); /* MSB-aligned */
    }
    if (mosi_len) {
        user |= SPI_USR_MOSI;
        lengths |= (mosi_len * 8 - 1) << SPI_USR_MOSI_BITLEN_SHIFT;
    }
    if (miso_len) {
        user |= SPI_USR_MISO;
        lengths |= (miso_len * 8 - 1) << SPI_USR_MISO_BITLEN_SHIFT;
    }
    REG_WRITE(SPI_USER, user);
    REG_WRITE(SPI_USER1, lengths);
    REG_WRITE(SPI_USER2, 7u << 28 | command);
    for (uint32_t i = 0; i < mosi_len; i += 4) {
        uint32_t word = 0;
        for (uint32_t j = 0; j < 4 && i + j < mosi_len; ++j)
            word |= (uint32_t)mosi[i + j] << (8 * j);
        REG_WRITE(SPI_W0 + i, word);
    }
    REG_WRITE(SPI_CMD, SPI_CMD_USR);
}

/* Reads take one line here. */
const bool hal_spi_dual_read = false;
void hal_spi_begin_dual_read(uint8_t command, uint32_t address, uint32_t address_bits,
                             uint32_t miso_len) {
    hal_spi_begin(command, address, address_bits, 0, 0, miso_len);
}

void hal_spi_end(uint8_t *miso, uint32_t miso_len) {
    while (REG_READ(SPI_CMD) & SPI_CMD_USR) {
    }
    for (uint32_t i = 0; i < miso_len; i += 4) {
        uint32_t word = REG_READ(SPI_W0 + i);
        for (uint32_t j = 0; j < 4 && i + j < miso_len; ++j)
            miso[i + j] = (uint8_t)(word >> (8 * j));
    }
    REG_WRITE(SPI_USER, saved_user);
    REG_WRITE(SPI_USER2, saved_user2);
}

/* The ESP8266 has one flash connection: the pin configuration is ignored (as in the ROM). */
void hal_spi_attach(uint32_t pin_config) {
    (void)pin_config;
    SelectSpiFunction(0);
    spi_flash_attach();
}

uint32_t hal_read_register(uint32_t address) {
    return REG_READ(address);
}
void hal_write_register(uint32_t address, uint32_t value) {
    REG_WRITE(address, value);
}
void hal_delay_us(uint32_t microseconds) {
    ets_delay_us(microseconds);
}

void hal_jump(uint32_t entry) {
    ((void (*)(void))(uintptr_t)entry)();
    for (;;) {
    }
}

/* The lx106 has no divide instruction and Debian's lx106 libgcc only references these helpers,
 * so the stub brings its own (shift and subtract; only the baud rate change divides). */
uint32_t __udivsi3(uint32_t dividend, uint32_t divisor);
uint32_t __umodsi3(uint32_t dividend, uint32_t divisor);

static uint32_t divide(uint32_t dividend, uint32_t divisor, uint32_t *remainder) {
    uint32_t quotient = 0, rest = 0;
    for (int bit = 31; bit >= 0; --bit) {
        rest = rest << 1 | ((dividend >> bit) & 1);
        if (rest >= divisor) {
            rest -= divisor;
            quotient |= 1u << bit;
        }
    }
    *remainder = rest;
    return quotient;
}
uint32_t __udivsi3(uint32_t dividend, uint32_t divisor) {
    uint32_t remainder;
    return divide(dividend, divisor, &remainder);
}
uint32_t __umodsi3(uint32_t dividend, uint32_t divisor) {
    uint32_t remainder;
    divide(dividend, divisor, &remainder);
    return remainder;
}

/* The ROM calls the entry after MEM_END. The shim (in assembly, as it sets a0) makes the ROM's
 * main routine, just past its download loop, the return address, so a return from the stub goes on
 * with the ROM's boot from flash, as with Espressif's stubs; then it enters C, which clears .bss
 * before anything else runs. */
extern uint8_t _bss_start[], _bss_end[];
__attribute__((used)) void stub_start(void) {
    for (uint8_t *p = _bss_start; p < _bss_end; ++p) *p = 0;
    stub_main();
}
#define ENTRY_SHIM(return_address)                                                                 \
    ".section .text.entry, \"ax\"\n"                                                               \
    ".literal_position\n"                                                                          \
    ".align 4\n"                                                                                   \
    ".global stub_entry\n"                                                                         \
    ".type stub_entry, @function\n"                                                                \
    "stub_entry:\n"                                                                                \
    "movi a0, " #return_address "\n"                                                               \
    "j stub_start\n"                                                                               \
    ".size stub_entry, . - stub_entry\n"                                                           \
    ".previous\n"
#define EXPANDED_ENTRY_SHIM(return_address) ENTRY_SHIM(return_address)
__asm__(EXPANDED_ENTRY_SHIM(ROM_RETURN_ADDRESS));
