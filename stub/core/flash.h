/* SPI NOR flash through the controller's user commands: reads, erase-ahead writing, whole-chip and
 * region erase. Every wait for the flash's WIP bit keeps the UART drained (stub_service_uart), so
 * the next block can arrive while the flash is busy. */
#ifndef ESPTOOLS_STUB_FLASH_H
#define ESPTOOLS_STUB_FLASH_H

#include <stdbool.h>
#include <stdint.h>

struct md5_context;

void flash_read(uint32_t address, uint8_t *out, uint32_t length);
/* Adds [address, address + length) as the flash holds it to an MD5, at the speed of the bus. */
void flash_md5_update(struct md5_context *md5, uint32_t address, uint32_t length);
bool flash_erase_chip(void);
/* Erases [address, address + length), both 4 KiB aligned: 64 KiB blocks where they fit. */
bool flash_erase_region(uint32_t address, uint32_t length);

/* A write session: bytes arrive in order from `address`; sectors are erased just ahead of them
 * (skipping sectors that are already blank until the first one that is not). */
void flash_writer_begin(uint32_t address, uint32_t size);
bool flash_writer_write(const uint8_t *data, uint32_t length);
uint32_t flash_writer_remaining(void);
/* The MD5 of what the session wrote, from the bytes read back from the flash as each chunk was
 * programmed: true only for a completed session's exact range, while nothing has touched the flash
 * since (flash_writer_forget), so the answer is what re-reading the flash would give. */
bool flash_writer_digest(uint32_t address, uint32_t length, uint8_t digest[16]);
void flash_writer_forget(void);

#endif
