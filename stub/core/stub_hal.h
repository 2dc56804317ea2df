/* What the portable stub core needs from a chip: its UART, its SPI flash controller's user-command
 * engine, registers, a delay, and flash attach. stub/hal/ implements it per CPU family from the
 * constants in stub/chips/<chip>/chip.h; the host tests implement it with a model. */
#ifndef ESPTOOLS_STUB_HAL_H
#define ESPTOOLS_STUB_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void hal_init(void);

/* UART: bytes waiting in the RX FIFO, room left in the TX FIFO. */
uint32_t hal_uart_rx_count(void);
uint8_t hal_uart_rx_byte(void);
uint32_t hal_uart_tx_room(void);
void hal_uart_tx_byte(uint8_t byte);
/* Sends what the console holds back (a USB endpoint waits for a full packet); UARTs send at once.
 */
void hal_uart_flush(void);
/* True once everything written has left the TX FIFO. */
bool hal_uart_tx_idle(void);
/* Scales the divider the ROM set up by old/new (the ROM measured the line, so this needs no clock
 * knowledge). */
void hal_uart_change_baud(uint32_t new_baud, uint32_t old_baud);

/* One SPI flash transaction through the controller, in two halves so that the CPU can work while
 * the bus moves the data. hal_spi_begin starts it: command, an address of address_bits (24 or 32;
 * 0: no address phase), up to 64 bytes out, and miso_len (up to 64) bytes to take back;
 * hal_spi_end waits for it to finish and takes them. */
void hal_spi_begin(uint8_t command, uint32_t address, uint32_t address_bits, const uint8_t *mosi,
                   uint32_t mosi_len, uint32_t miso_len);
void hal_spi_end(uint8_t *miso, uint32_t miso_len);
/* Where hal_spi_dual_read is true, hal_spi_begin_dual_read starts a read whose data comes back on
 * two lines after 8 dummy cycles (DUAL OUTPUT READ, 3Bh, and its 4-byte form 3Ch). */
extern const bool hal_spi_dual_read;
void hal_spi_begin_dual_read(uint8_t command, uint32_t address, uint32_t address_bits,
                             uint32_t miso_len);
void hal_spi_attach(uint32_t pin_config);

uint32_t hal_read_register(uint32_t address);
void hal_write_register(uint32_t address, uint32_t value);
void hal_delay_us(uint32_t microseconds);

/* Starts code loaded with MEM_* (MEM_END with an entry point); does not return. */
void hal_jump(uint32_t entry);

#ifdef __cplusplus
}
#endif

#endif
