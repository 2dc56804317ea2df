/* The fake ROM's exception vectors and reset code (see fake_rom.c). The vectors sit at the lx106's
 * reset VECBASE (0x40000000) and the reset vector at 0x40000080, as in the real ROM
 * (ESP8266_NONOS_SDK ld/eagle.rom.addr.v6.ld); image.ld places this section there. QEMU's lx106 core
 * resets to 0x50000000 instead, even with -kernel: a second reset vector there. */
    .section .fakerom.vectors, "ax"
    .org 0x10 /* debug */
    movi a2, 0x10
    j fake_exception
    .org 0x20 /* NMI */
    movi a2, 0x20
    j fake_exception
    .org 0x30 /* kernel */
    movi a2, 0x30
    j fake_exception
    .org 0x50 /* user */
    movi a2, 0x50
    j fake_exception
    .org 0x70 /* double */
    movi a2, 0x70
    j fake_exception
    .org 0x80 /* reset */
    j fake_reset

    .section .fakerom.qemu_reset, "ax"
    j 1f /* over the literal: l32r only reaches backwards */
    .align 4
2:  .word fake_reset
1:  l32r a2, 2b
    jx a2

/* Where a return from the stub's entry lands (chips/esp8266/chip.h ROM_RETURN_ADDRESS). */
    .section .fakerom.return, "ax"
    j fake_rom_boot

    .text
    .literal_position
    .align 4
    .global fake_reset
    .type fake_reset, @function
fake_reset:
    movi a1, 0x3FFFFFF0 /* a stack at the top of DRAM, above the stub's window, as the ROM's */
    movi a0, 0
    call0 fake_rom_main
1:  j 1b
    .size fake_reset, . - fake_reset
