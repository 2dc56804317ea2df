// Crashes on purpose, so that the monitor's decoding can be seen and tested: app_main calls
// crash_here(), which runs an illegal instruction. panic.S catches the trap and panic_report()
// prints the report in the shape ESP-IDF's panic handler gives it on RISC-V chips
// (components/esp_system/port/arch/riscv/panic_arch.c): the registers, then stack words.
#include <stdint.h>

extern int ets_printf(const char *format, ...);
extern void uart_tx_flush(uint8_t uart_no);

// The trap frame panic.S builds: MEPC, then x1..x31, then the trap's CSRs.
struct trap_frame {
    uint32_t mepc;
    uint32_t x[31]; // x1 (RA) .. x31 (T6)
    uint32_t mstatus, mtvec, mcause, mtval, mhartid;
};

static const char *const register_names[] = {
    "MEPC    ", "RA      ", "SP      ", "GP      ", "TP      ", "T0      ", "T1      ",
    "T2      ", "S0/FP   ", "S1      ", "A0      ", "A1      ", "A2      ", "A3      ",
    "A4      ", "A5      ", "A6      ", "A7      ", "S2      ", "S3      ", "S4      ",
    "S5      ", "S6      ", "S7      ", "S8      ", "S9      ", "S10     ", "S11     ",
    "T3      ", "T4      ", "T5      ", "T6      ", "MSTATUS ", "MTVEC   ", "MCAUSE  ",
    "MTVAL   ", "MHARTID ",
};

// RISC-V privileged spec, mcause exception codes.
static const char *cause_text(uint32_t cause) {
    switch (cause) {
    case 1: return "Instruction access fault";
    case 2: return "Illegal instruction";
    case 5: return "Load access fault";
    case 7: return "Store access fault";
    default: return "Unhandled exception";
    }
}

void panic_report(const struct trap_frame *frame) {
    const uint32_t *words = (const uint32_t *)frame;
    ets_printf("\nGuru Meditation Error: Core  %d panic'ed (%s). Exception was unhandled.\n\n",
               (int)frame->mhartid, cause_text(frame->mcause));
    ets_printf("Core  %d register dump:", (int)frame->mhartid);
    for (unsigned i = 0; i < sizeof register_names / sizeof register_names[0]; i++) {
        if (i % 4 == 0) ets_printf("\n");
        ets_printf("%s: 0x%08x  ", register_names[i], words[i]);
    }
    ets_printf("\n\nStack memory:\n");
    const uint32_t *stack = (const uint32_t *)frame->x[1];
    for (unsigned row = 0; row < 4; row++) {
        ets_printf("%08x:", (unsigned)(uintptr_t)(stack + row * 8));
        for (unsigned i = 0; i < 8; i++) ets_printf(" 0x%08x", stack[row * 8 + i]);
        ets_printf("\n");
    }
    ets_printf("\nRebooting...\n");
    uart_tx_flush(0);
}

// (Read at run time, so that the compiler cannot know crash_here() never returns and drop
// what follows its call: the return address then lies in app_main, as in real code.)
volatile int crash_enabled = 1;

__attribute__((noinline)) void crash_here(void) {
    if (crash_enabled) __builtin_trap(); // the illegal instruction the report names
}

extern void panic_trap_entry(void);

void app_main(void) {
    __asm__ volatile("csrw mtvec, %0" ::"r"(&panic_trap_entry));
    ets_printf("Crash example: calling crash_here()\n");
    crash_here();
    ets_printf("not reached\n");
}
