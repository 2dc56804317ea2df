/* esp32h2: UART0 and SPI1 (flash controller) register blocks, as in esptool's chip description
 * and ESP-IDF's soc/reg_base.h. */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x60000000u
#define SPI_BASE 0x60003000u
/* UART_STATUS: RX count from bit 0, TX count from bit 16 (ESP-IDF uart_reg.h, UART_RXFIFO_CNT_V).
 */
#define UART_FIFO_COUNT_MASK 0xFFu
/* UART_REG_UPDATE_REG: bit 0 commits a new clock divider (ESP-IDF soc/uart_reg.h, uart_ll_update).
 */
#define UART_REG_UPDATE_OFFSET 0x98u
/* USB-Serial-JTAG's register block (ESP-IDF soc/usb_serial_jtag_reg.h, reg_base.h) and the number
 * the ROM keeps in UartDevice.buff_uart_no while it talks over it (ESP-IDF esp_rom_caps.h,
 * ESP_ROM_USB_SERIAL_DEVICE_NUM). */
#define USB_SERIAL_JTAG_BASE 0x6000F000u
#define USB_SERIAL_JTAG_CONSOLE 0x3u
#endif
