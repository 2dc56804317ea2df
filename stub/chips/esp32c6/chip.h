/* esp32c6: UART0 and SPI1 (flash controller) register blocks, as in esptool's chip description
 * and ESP-IDF's soc/reg_base.h. */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x60000000u
#define SPI_BASE 0x60003000u
/* UART_REG_UPDATE_REG: bit 0 commits a new clock divider (ESP-IDF soc/uart_reg.h, uart_ll_update).
 */
#define UART_REG_UPDATE_OFFSET 0x98u
#endif
