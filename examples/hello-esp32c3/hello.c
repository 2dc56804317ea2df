// A bare-metal ESP32-C3 program that the ROM boots straight from flash (RAM segments only, no
// second-stage bootloader) and that prints a greeting through the ROM's UART routine.
#include <stdint.h>

// ROM functions, at their addresses in ESP-IDF's components/esp_rom/esp32c3/ld/esp32c3.rom.ld.
extern int uart_tx_one_char(uint8_t c);
extern void uart_tx_flush(uint8_t uart_no);
extern void ets_delay_us(uint32_t us);

static const char greeting[] = "Hello from EspTools on ESP32-C3!\n";

static void print(const char *text) {
    while (*text) uart_tx_one_char((uint8_t)*text++);
}

void app_main(void) {
    print(greeting);
    uart_tx_flush(0);
    for (;;) ets_delay_us(1000000);
}
