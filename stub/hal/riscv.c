/* The HAL for Espressif's RISC-V chips: UART0 and the SPI1 flash controller through their
 * registers (addresses from the chip's chip.h), a few ROM routines (its rom.ld). */
#include "chip.h"
#include "stub.h"
#include "stub_hal.h"

/* ROM routines, bound by the chip's rom.ld. */
extern void ets_delay_us(uint32_t microseconds);
extern void esp_rom_spiflash_attach(uint32_t pin_config, bool legacy);
#ifdef CPU_PLL_MHZ
extern void ets_update_cpu_frequency(uint32_t ticks_per_us);
#endif

#define REG(address) (*(volatile uint32_t *)(uintptr_t)(address))

#define UART_FIFO (UART_BASE + 0x00)
#define UART_CLKDIV (UART_BASE + 0x14)
#define UART_STATUS (UART_BASE + 0x1C)
#define UART_FIFO_SIZE 128u

#define SPI_CMD (SPI_BASE + 0x00)
#define SPI_ADDR (SPI_BASE + 0x04)
#define SPI_USER (SPI_BASE + 0x18)
#define SPI_USER1 (SPI_BASE + 0x1C)
#define SPI_USER2 (SPI_BASE + 0x20)
#define SPI_MOSI_DLEN (SPI_BASE + 0x24)
#define SPI_MISO_DLEN (SPI_BASE + 0x28)
#define SPI_W0 (SPI_BASE + 0x58)
#define SPI_CMD_USR (1u << 18)
#define SPI_USR_COMMAND (1u << 31)
#define SPI_USR_ADDR (1u << 30)
#define SPI_USR_MISO (1u << 28)
#define SPI_USR_MOSI (1u << 27)
#define SPI_USR_DUMMY (1u << 29)

#define UART_INT_ENA (UART_BASE + 0x0C)
#define UART_INT_CLR (UART_BASE + 0x10)

#ifdef USB_SERIAL_JTAG_BASE
/* ESP-IDF soc/<chip>/register/soc/usb_serial_jtag_reg.h */
#define USJ_EP1 (USB_SERIAL_JTAG_BASE + 0x00)
#define USJ_EP1_CONF (USB_SERIAL_JTAG_BASE + 0x04)
#define USJ_INT_ENA (USB_SERIAL_JTAG_BASE + 0x10)
#define USJ_INT_CLR (USB_SERIAL_JTAG_BASE + 0x14)
#define USJ_WR_DONE (1u << 0)
#define USJ_IN_EP_DATA_FREE (1u << 1)
#define USJ_OUT_EP_DATA_AVAIL (1u << 2)

/* The ROM's console record; byte 24 (buff_uart_no) says which port download mode runs on. */
extern uint8_t *GetUartDevice(void);

static bool console_is_usb;
#endif

static void select_fast_clocks(void);

void hal_init(void) {
    /* The ROM loader takes its input by interrupt; a handler still armed would take bytes from
     * under the stub. Mask the sources the ROM may have left on (esp-flasher-stub replaces the
     * ROM's handlers instead; this stub polls). */
    REG(UART_INT_ENA) = 0;
    REG(UART_INT_CLR) = 0xFFFFFFFFu;
#ifdef USB_SERIAL_JTAG_BASE
    REG(USJ_INT_ENA) = 0;
    REG(USJ_INT_CLR) = 0xFFFFFFFFu;
    uint8_t console = GetUartDevice()[24];
    console_is_usb = console == USB_SERIAL_JTAG_CONSOLE;
#ifdef USB_SERIAL_JTAG_CONSOLE_BEFORE_V0_3
    console_is_usb = console_is_usb || console == USB_SERIAL_JTAG_CONSOLE_BEFORE_V0_3;
#endif
#endif
    /* Hashing and inflating are CPU-bound, and reading the flash is bound by its bus clock. */
    select_fast_clocks();
}

#ifdef USB_SERIAL_JTAG_BASE
#define ON_USB_SERIAL_JTAG(expression)                                                             \
    do {                                                                                           \
        if (console_is_usb) return expression;                                                     \
    } while (0)
#else
#define ON_USB_SERIAL_JTAG(expression)                                                             \
    do {                                                                                           \
    } while (0)
#endif

/* On USB-Serial-JTAG the "FIFO counts" are 0 or 1: the endpoint registers say only whether a byte
 * waits and whether one more fits. */
uint32_t hal_uart_rx_count(void) {
    ON_USB_SERIAL_JTAG((REG(USJ_EP1_CONF) & USJ_OUT_EP_DATA_AVAIL) ? 1u : 0u);
    return REG(UART_STATUS) & UART_FIFO_COUNT_MASK;
}
uint8_t hal_uart_rx_byte(void) {
    ON_USB_SERIAL_JTAG((uint8_t)REG(USJ_EP1));
    return (uint8_t)REG(UART_FIFO);
}
uint32_t hal_uart_tx_room(void) {
    ON_USB_SERIAL_JTAG((REG(USJ_EP1_CONF) & USJ_IN_EP_DATA_FREE) ? 1u : 0u);
    uint32_t used = (REG(UART_STATUS) >> 16) & UART_FIFO_COUNT_MASK;
    return used < UART_FIFO_SIZE ? UART_FIFO_SIZE - used : 0;
}
void hal_uart_tx_byte(uint8_t byte) {
#ifdef USB_SERIAL_JTAG_BASE
    if (console_is_usb) {
        REG(USJ_EP1) = byte;
        return;
    }
#endif
    REG(UART_FIFO) = byte;
}
/* USB-Serial-JTAG holds bytes until the endpoint is full or WR_DONE sends the packet. WR_DONE
 * while a full packet is still on its way is lost (ESP-IDF's usb_serial_jtag HAL; esp-stub-lib
 * waits for the endpoint first, up to the ROM's 50 ms), and the host may need the short or empty
 * packet it sends to end the transfer. */
void hal_uart_flush(void) {
#ifdef USB_SERIAL_JTAG_BASE
    if (!console_is_usb) return;
    for (uint32_t waited_us = 0; !(REG(USJ_EP1_CONF) & USJ_IN_EP_DATA_FREE) && waited_us < 50000;
         ++waited_us)
        hal_delay_us(1);
    REG(USJ_EP1_CONF) = USJ_WR_DONE;
#endif
}
bool hal_uart_tx_idle(void) {
    ON_USB_SERIAL_JTAG((REG(USJ_EP1_CONF) & USJ_IN_EP_DATA_FREE) != 0);
    return ((REG(UART_STATUS) >> 16) & UART_FIFO_COUNT_MASK) == 0;
}

void hal_uart_change_baud(uint32_t new_baud, uint32_t old_baud) {
    ON_USB_SERIAL_JTAG(); /* USB has no baud rate */
    if (new_baud == 0 || old_baud == 0) return;
    /* Divider in 1/16ths: integer part in bits 11:0, fraction in bits 23:20. Baud rates are
     * multiples of 16 in practice, which keeps the arithmetic in 32 bits. */
    uint32_t divider = REG(UART_CLKDIV);
    uint32_t sixteenths = (divider & 0xFFF) << 4 | ((divider >> 20) & 0xF);
    uint32_t scaled = sixteenths * (old_baud >> 4) / (new_baud >> 4);
    hal_delay_us(1000);
    REG(UART_CLKDIV) = (scaled >> 4) | (scaled & 0xF) << 20;
#ifdef UART_REG_UPDATE_OFFSET
    /* These UARTs keep using the old divider until it is committed. */
    REG(UART_BASE + UART_REG_UPDATE_OFFSET) = 1;
    while (REG(UART_BASE + UART_REG_UPDATE_OFFSET) & 1) {
    }
#endif
}

#ifdef SPI_CTRL_OFFSET
/* SPI_MEM_CTRL_REG's read-data line modes (ESP-IDF soc/spi_mem_reg.h): FREAD_DUAL (14), FREAD_QUAD
 * (20), FREAD_DIO (23), FREAD_QIO (24). Its other bits (WP's idle level among them) stay as the
 * ROM set them. */
#define SPI_CTRL (SPI_BASE + SPI_CTRL_OFFSET)
#define SPI_CTRL_FREAD_DUAL (1u << 14)
#define SPI_CTRL_READ_MODES (SPI_CTRL_FREAD_DUAL | 1u << 20 | 1u << 23 | 1u << 24)
const bool hal_spi_dual_read = true;
#else
const bool hal_spi_dual_read = false;
#endif

static void begin(uint8_t command, uint32_t address, uint32_t address_bits, const uint8_t *mosi,
                  uint32_t mosi_len, uint32_t miso_len, bool dual_read) {
    uint32_t user = SPI_USR_COMMAND;
    if (address_bits) user |= SPI_USR_ADDR;
    if (mosi_len) user |= SPI_USR_MOSI;
    if (miso_len) user |= SPI_USR_MISO;
    if (dual_read) user |= SPI_USR_DUMMY;
#ifdef SPI_CTRL_OFFSET
    REG(SPI_CTRL) = (REG(SPI_CTRL) & ~SPI_CTRL_READ_MODES) | (dual_read ? SPI_CTRL_FREAD_DUAL : 0);
#endif
    REG(SPI_USER) = user;
    /* SPI_MEM_USR_ADDR_BITLEN, bits 31:26 of USER1: the address phase's length less one;
     * USR_DUMMY_CYCLELEN, bits 5:0: the dummy cycles less one (8 before dual output data). */
    REG(SPI_USER1) = (address_bits ? (address_bits - 1) << 26 : 0) | (dual_read ? 7u : 0);
    REG(SPI_USER2) = 7u << 28 | command;
    if (address_bits) REG(SPI_ADDR) = address;
    if (mosi_len) REG(SPI_MOSI_DLEN) = mosi_len * 8 - 1;
    if (miso_len) REG(SPI_MISO_DLEN) = miso_len * 8 - 1;
    for (uint32_t i = 0; i < mosi_len; i += 4) {
        uint32_t word = 0;
        for (uint32_t j = 0; j < 4 && i + j < mosi_len; ++j)
            word |= (uint32_t)mosi[i + j] << (8 * j);
        REG(SPI_W0 + i) = word;
    }
    REG(SPI_CMD) = SPI_CMD_USR;
}

void hal_spi_begin(uint8_t command, uint32_t address, uint32_t address_bits, const uint8_t *mosi,
                   uint32_t mosi_len, uint32_t miso_len) {
    begin(command, address, address_bits, mosi, mosi_len, miso_len, false);
}

void hal_spi_begin_dual_read(uint8_t command, uint32_t address, uint32_t address_bits,
                             uint32_t miso_len) {
    begin(command, address, address_bits, 0, 0, miso_len, hal_spi_dual_read);
}

void hal_spi_end(uint8_t *miso, uint32_t miso_len) {
    while (REG(SPI_CMD) & SPI_CMD_USR) {
    }
    uint32_t i = 0;
    if (((uintptr_t)miso & 3) == 0) /* whole words where the buffer allows (a flash read's do) */
        for (; i + 4 <= miso_len; i += 4) *(uint32_t *)(miso + i) = REG(SPI_W0 + i);
    for (; i < miso_len; i += 4) {
        uint32_t word = REG(SPI_W0 + i);
        for (uint32_t j = 0; j < 4 && i + j < miso_len; ++j)
            miso[i + j] = (uint8_t)(word >> (8 * j));
    }
}

static void select_fast_clocks(void) {
#ifdef CPU_PLL_MHZ
    static const struct { uint32_t address, shift, width, value; } selects[] = {CPU_PLL_SELECTS};
    for (uint32_t i = 0; i < sizeof selects / sizeof selects[0]; ++i) {
        uint32_t mask = ((1u << selects[i].width) - 1) << selects[i].shift;
        REG(selects[i].address) = (REG(selects[i].address) & ~mask) | selects[i].value
                                                                          << selects[i].shift;
    }
    /* The ROM's delays count CPU cycles. */
    ets_update_cpu_frequency(CPU_PLL_MHZ);
#endif
#ifdef SPI_CLOCK_FAST
    REG(SPI_BASE + SPI_CLOCK_OFFSET) = SPI_CLOCK_FAST;
#endif
}

void hal_spi_attach(uint32_t pin_config) {
    esp_rom_spiflash_attach(pin_config, false);
#ifdef SPI_CLOCK_FAST
    REG(SPI_BASE + SPI_CLOCK_OFFSET) = SPI_CLOCK_FAST; /* in case attaching set the ROM's again */
#endif
}

uint32_t hal_read_register(uint32_t address) {
    return REG(address);
}
void hal_write_register(uint32_t address, uint32_t value) {
    REG(address) = value;
}
void hal_delay_us(uint32_t microseconds) {
    ets_delay_us(microseconds);
}

void hal_jump(uint32_t entry) {
    ((void (*)(void))(uintptr_t)entry)();
    for (;;) {
    }
}

/* The ROM calls this after MEM_END; .bss must be cleared before anything else runs. */
extern uint8_t _bss_start[], _bss_end[];
__attribute__((section(".text.entry"), used)) void stub_entry(void) {
    /* Word stores (the linker script aligns both ends); volatile keeps the compiler from turning
     * the loop into a call to our byte-wise memset. */
    for (volatile uint32_t *p = (volatile uint32_t *)(void *)_bss_start;
         p < (volatile uint32_t *)(void *)_bss_end; ++p)
        *p = 0;
    stub_main();
}
