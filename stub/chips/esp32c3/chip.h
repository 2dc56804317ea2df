/* esp32c3: UART0 and SPI1 (flash controller) register blocks, as in esptool's chip description
 * and ESP-IDF's soc/reg_base.h. */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x60000000u
#define SPI_BASE 0x60002000u
/* UART_STATUS: RX count from bit 0, TX count from bit 16 (ESP-IDF uart_reg.h, UART_RXFIFO_CNT_V).
 */
#define UART_FIFO_COUNT_MASK 0x3FFu
/* USB-Serial-JTAG's register block (ESP-IDF soc/usb_serial_jtag_reg.h, reg_base.h) and the number
 * the ROM keeps in UartDevice.buff_uart_no while it talks over it (ESP-IDF esp_rom_caps.h,
 * ESP_ROM_USB_SERIAL_DEVICE_NUM). */
#define USB_SERIAL_JTAG_BASE 0x60043000u
#define USB_SERIAL_JTAG_CONSOLE 0x3u
/* The 160 MHz PLL clock, selected as esp-stub-lib's stub_target_clock_init does
 * (src/target/esp32c3/src/clock.c; soc/system_reg.h): {register, shift, width, value} for
 * SYSTEM_SYSCLK_CONF_REG.SOC_CLK_SEL = 1, SYSTEM_CPU_PER_CONF_REG.PLL_FREQ_SEL = 1 and
 * .CPUPERIOD_SEL = 1. UART0 runs from the crystal here (esp-stub-lib's uart.c), so its divider
 * stays right. */
#define CPU_PLL_SELECTS                                                                            \
    {0x600C0058u, 10, 2, 1}, {0x600C0008u, 2, 1, 1}, {                                             \
        0x600C0008u, 0, 2, 1                                                                       \
    }
#define CPU_PLL_MHZ 160
/* SPI1's SPI_MEM_CLOCK_REG (soc/spi_mem_reg.h) at 40 MHz, half the 80 MHz MSPI clock (ESP-IDF
 * hal/esp32c3/include/hal/spimem_flash_ll.h, SPIMEM_FLASH_LL_CLKREG_VAL_40MHZ) in place of the
 * ROM's 20 MHz. The stub's READ (03h) is good to 50 MHz (W25Q32JV and GD25Q32 datasheets). */
#define SPI_CLOCK_OFFSET 0x14u
#define SPI_CLOCK_FAST 0x00010001u
/* SPI_MEM_CTRL_REG (soc/spi_mem_reg.h): its FREAD_DUAL bit lets reads take the data on two lines
 * (DUAL OUTPUT READ, 3Bh, 8 dummy cycles: no extra ones at 40 MHz, as ESP-IDF's DOUT mode). */
#define SPI_CTRL_OFFSET 0x08u
#endif
