// Constant data the linker script places in the flash-mapped data window (DROM).
__attribute__((used, section(".flash.rodata"))) const char table[16] = "lives in flash";
void _start(void) {
    for (;;) {}
}
