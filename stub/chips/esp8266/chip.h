/* esp8266: UART0 and SPI0 (the flash controller) register blocks, as in esptool's chip description
 * (../shared/reference/chips.md §2: UART_CLKDIV 0x60000014, SPI_REG_BASE 0x60000200) and the
 * ESP8266 SDKs' eagle_soc.h. */
#ifndef ESPTOOLS_STUB_CHIP_H
#define ESPTOOLS_STUB_CHIP_H
#define UART_BASE 0x60000000u
#define SPI_BASE 0x60000200u
/* A point in the ROM's main routine past its download loop: with this as the return address, a
 * return from the stub goes on to boot from flash. Espressif's ESP8266 stubs put the same value in
 * a0 before entering C. */
#define ROM_RETURN_ADDRESS 0x400010a8
#endif
