/* esp32c2: UART0 and SPI1 (flash controller) register blocks, as in esptool's chip description
 * and ESP-IDF's soc/reg_base.h. */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x60000000u
#define SPI_BASE 0x60002000u
#endif
