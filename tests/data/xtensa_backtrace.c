/* Xtensa functions whose addresses the monitor's tests name from this file's DWARF, as they would
   name those of an ESP32 "Backtrace:" line. Each function is on one line: every address in it has
   that line. Built with xtensa-lx106-elf-gcc -g -O0 by tests/data/CMakeLists.txt. */
/* One line per function is what the test relies on: */
/* clang-format off */
static inline __attribute__((always_inline)) int twice(int v) { return v + v; } /* line of twice */
int leaf(int x) { return x * 3 + 1; }                                           /* line of leaf */
int middle(int y) { return twice(leaf(y)) + leaf(y + 1); }                      /* line of middle */
void call_start_cpu0(void) { volatile int r = middle(5); (void)r; } /* line of call_start_cpu0 */
/* clang-format on */
