/* stub/hal/esp8266.c as the QEMU smoke test runs it: every UART0, SPI0 and READ_REG/WRITE_REG
 * access goes to the peripheral model in fake_rom.c instead of the bus. Nothing else differs. */
#include <stdint.h>

uint32_t sim_reg_read(uint32_t address);
void sim_reg_write(uint32_t address, uint32_t value);
#define REG_READ(address) sim_reg_read(address)
#define REG_WRITE(address, value) sim_reg_write(address, value)

#include "esp8266.c"
