# Trap entry for crash.c: saves MEPC, x1..x31 and the trap's CSRs as a frame on the stack and
# hands it to panic_report(), then stays put (the report ends the program).
    .section .text.panic_trap_entry, "ax"
    .globl panic_trap_entry
    .align 2                 # mtvec in direct mode needs a 4-byte aligned address
panic_trap_entry:
    addi sp, sp, -160
    sw x1, 4(sp)
    sw x3, 12(sp)
    sw x4, 16(sp)
    sw x5, 20(sp)
    sw x6, 24(sp)
    sw x7, 28(sp)
    sw x8, 32(sp)
    sw x9, 36(sp)
    sw x10, 40(sp)
    sw x11, 44(sp)
    sw x12, 48(sp)
    sw x13, 52(sp)
    sw x14, 56(sp)
    sw x15, 60(sp)
    sw x16, 64(sp)
    sw x17, 68(sp)
    sw x18, 72(sp)
    sw x19, 76(sp)
    sw x20, 80(sp)
    sw x21, 84(sp)
    sw x22, 88(sp)
    sw x23, 92(sp)
    sw x24, 96(sp)
    sw x25, 100(sp)
    sw x26, 104(sp)
    sw x27, 108(sp)
    sw x28, 112(sp)
    sw x29, 116(sp)
    sw x30, 120(sp)
    sw x31, 124(sp)
    addi t0, sp, 160         # SP as it was when the trap came
    sw t0, 8(sp)
    csrr t0, mepc
    sw t0, 0(sp)
    csrr t0, mstatus
    sw t0, 128(sp)
    csrr t0, mtvec
    sw t0, 132(sp)
    csrr t0, mcause
    sw t0, 136(sp)
    csrr t0, mtval
    sw t0, 140(sp)
    csrr t0, mhartid
    sw t0, 144(sp)
    mv a0, sp
    call panic_report
1:  j 1b
