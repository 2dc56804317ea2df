/* esp32s31: UART0 and SPI1 (flash controller) register blocks, from ESP-IDF's
 * soc/esp32s31/register/soc/reg_base.h (DR_REG_UART0_BASE, DR_REG_FLASH_SPI1_BASE) and esptool's
 * chip description (SPI_REG_BASE). */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x2038A000u
#define SPI_BASE 0x20501000u
/* UART_STATUS: RX count from bit 0, TX count from bit 16 (ESP-IDF uart_reg.h, UART_RXFIFO_CNT_V).
 */
#define UART_FIFO_COUNT_MASK 0xFFu
/* UART_REG_UPDATE_REG: bit 0 commits a new clock divider (ESP-IDF soc/uart_reg.h, uart_ll_update).
 */
#define UART_REG_UPDATE_OFFSET 0x98u
#endif
