#include "flash.h"

#include "md5.h"
#include "stub.h"
#include "stub_hal.h"

enum {
    CMD_WRITE_ENABLE = 0x06,
    CMD_READ_STATUS = 0x05,
    CMD_READ = 0x03,
    CMD_DUAL_OUTPUT_READ = 0x3B,
    CMD_PAGE_PROGRAM = 0x02,
    CMD_SECTOR_ERASE = 0x20,
    CMD_BLOCK_ERASE_64K = 0xD8,
    CMD_CHIP_ERASE = 0xC7,
};
#define STATUS_BUSY 0x01u
#define STATUS_WRITE_ENABLED 0x02u
#define SECTOR_SIZE 0x1000u
#define BLOCK_SIZE 0x10000u
#define PAGE_SIZE 0x100u
#define TRANSFER_SIZE 64u           /* the controller's W0..W15 data buffer */
#define THREE_BYTE_LIMIT 0x1000000u /* what 24 address bits reach */

/* Past the first 16 MB a part takes each command in its 4-byte form (W25Q256JV and GD25Q256D
 * datasheets: 13h read, 12h page program, 21h sector erase, DCh 64 KB block erase). */
static uint8_t four_byte_form(uint8_t command) {
    switch (command) {
    case CMD_READ:
        return 0x13;
    case CMD_DUAL_OUTPUT_READ:
        return 0x3C;
    case CMD_PAGE_PROGRAM:
        return 0x12;
    case CMD_SECTOR_ERASE:
        return 0x21;
    case CMD_BLOCK_ERASE_64K:
        return 0xDC;
    default:
        return command;
    }
}

static void transaction(uint8_t command, uint32_t address, uint32_t address_bits,
                        const uint8_t *mosi, uint32_t mosi_len, uint8_t *miso, uint32_t miso_len) {
    hal_spi_begin(command, address, address_bits, mosi, mosi_len, miso_len);
    hal_spi_end(miso, miso_len);
}

/* Starts a command on `length` bytes at `address`, with 32 address bits where any of them lies
 * past 16 MB (24 bits would wrap to the start of the part). */
static void begin_addressed(uint8_t command, uint32_t address, uint32_t length, const uint8_t *mosi,
                            uint32_t mosi_len, uint32_t miso_len) {
    bool wide = address >= THREE_BYTE_LIMIT || length > THREE_BYTE_LIMIT - address;
    hal_spi_begin(wide ? four_byte_form(command) : command, address, wide ? 32 : 24, mosi, mosi_len,
                  miso_len);
}

/* Starts a read of up to 64 bytes: on two lines where the controller can (twice the bytes per
 * clock; every SPI NOR part these chips boot from answers 3Bh, ESP-IDF's DOUT mode), else READ. */
static void begin_read(uint32_t address, uint32_t length) {
    if (!hal_spi_dual_read) return begin_addressed(CMD_READ, address, length, 0, 0, length);
    bool wide = address >= THREE_BYTE_LIMIT || length > THREE_BYTE_LIMIT - address;
    hal_spi_begin_dual_read(wide ? four_byte_form(CMD_DUAL_OUTPUT_READ) : CMD_DUAL_OUTPUT_READ,
                            address, wide ? 32 : 24, length);
}

static void addressed(uint8_t command, uint32_t address, uint32_t length, const uint8_t *mosi,
                      uint32_t mosi_len, uint8_t *miso, uint32_t miso_len) {
    begin_addressed(command, address, length, mosi, mosi_len, miso_len);
    hal_spi_end(miso, miso_len);
}

static uint8_t read_status(void) {
    uint8_t status = 0;
    transaction(CMD_READ_STATUS, 0, 0, 0, 0, &status, 1);
    return status;
}

/* Waits out an erase or program while keeping the UART drained. */
static void wait_ready(void) {
    while (read_status() & STATUS_BUSY) stub_service_uart();
}

static bool write_enable(void) {
    transaction(CMD_WRITE_ENABLE, 0, 0, 0, 0, 0, 0);
    return (read_status() & STATUS_WRITE_ENABLED) != 0;
}

void flash_read(uint32_t address, uint8_t *out, uint32_t length) {
    wait_ready();
    while (length > 0) {
        uint32_t chunk = length < TRANSFER_SIZE ? length : TRANSFER_SIZE;
        begin_read(address, chunk);
        hal_spi_end(out, chunk);
        address += chunk;
        out += chunk;
        length -= chunk;
    }
}

void flash_md5_update(struct md5_context *md5, uint32_t address, uint32_t length) {
    wait_ready();
    uint32_t chunk[TRANSFER_SIZE / 4];
    uint32_t pending = length < TRANSFER_SIZE ? length : TRANSFER_SIZE;
    if (pending) begin_read(address, pending);
    while (pending > 0) {
        hal_spi_end((uint8_t *)chunk, pending);
        address += pending;
        length -= pending;
        uint32_t hashing = pending;
        pending = length < TRANSFER_SIZE ? length : TRANSFER_SIZE;
        /* The bus fetches the next piece while this one is hashed. */
        if (pending) begin_read(address, pending);
        md5_update(md5, (const uint8_t *)chunk, hashing);
    }
}

static bool erase(uint8_t command, uint32_t address, uint32_t length) {
    wait_ready();
    if (!write_enable()) return false;
    addressed(command, address, length, 0, 0, 0, 0);
    wait_ready();
    return true;
}

bool flash_erase_chip(void) {
    wait_ready();
    if (!write_enable()) return false;
    transaction(CMD_CHIP_ERASE, 0, 0, 0, 0, 0, 0);
    wait_ready();
    return true;
}

bool flash_erase_region(uint32_t address, uint32_t length) {
    uint32_t end = address + length;
    while (address < end) {
        bool block = (address & (BLOCK_SIZE - 1)) == 0 && end - address >= BLOCK_SIZE;
        uint32_t size = block ? BLOCK_SIZE : SECTOR_SIZE;
        if (!erase(block ? CMD_BLOCK_ERASE_64K : CMD_SECTOR_ERASE, address, size)) return false;
        address += size;
    }
    return true;
}

static bool sectors_blank(uint32_t address, uint32_t length) {
    /* Several transfers per flash_read: one status poll for each, not for every 64 bytes. */
    uint32_t chunk[256 / 4];
    for (uint32_t done = 0; done < length; done += sizeof chunk) {
        flash_read(address + done, (uint8_t *)chunk, sizeof chunk);
        for (uint32_t i = 0; i < sizeof chunk / 4; ++i)
            if (chunk[i] != 0xFFFFFFFFu) return false;
        stub_service_uart();
    }
    return true;
}

static struct {
    uint32_t next;      /* where the next byte goes */
    uint32_t end;       /* one past the last byte of the session */
    uint32_t erased_to; /* everything below this (from the session start) is erased */
    bool skip_blank;    /* still skipping sectors that are already erased */
    uint32_t start;
    bool digest_valid; /* md5 covers [start, next) as read back from the flash */
    struct md5_context md5;
} writer;

void flash_writer_begin(uint32_t address, uint32_t size) {
    writer.next = address;
    writer.end = address + size;
    writer.erased_to = address & ~(SECTOR_SIZE - 1);
    writer.skip_blank = true;
    writer.start = address;
    writer.digest_valid = true;
    md5_init(&writer.md5);
}

bool flash_writer_digest(uint32_t address, uint32_t length, uint8_t digest[16]) {
    if (!writer.digest_valid || writer.next != writer.end || address != writer.start ||
        length != writer.end - writer.start || length == 0)
        return false;
    struct md5_context copy = writer.md5;
    md5_final(&copy, digest);
    return true;
}

void flash_writer_forget(void) {
    writer.digest_valid = false;
}

uint32_t flash_writer_remaining(void) {
    return writer.end - writer.next;
}

/* Erases ahead of the write position up to `until`: 64 KiB blocks where aligned and wholly inside
 * the session, 4 KiB sectors elsewhere. While the flash is found blank, it is checked a sector
 * at a time as the write reaches it: checking a whole block at once held up the answer to every
 * fourth 16 KiB block by the time it takes to read 64 KiB. */
static bool erase_until(uint32_t until) {
    uint32_t session_end = (writer.end + SECTOR_SIZE - 1) & ~(SECTOR_SIZE - 1);
    while (writer.erased_to < until) {
        uint32_t at = writer.erased_to;
        if (writer.skip_blank) {
            if (sectors_blank(at, SECTOR_SIZE)) {
                writer.erased_to += SECTOR_SIZE;
                continue;
            }
            writer.skip_blank = false;
        }
        bool block = (at & (BLOCK_SIZE - 1)) == 0 && session_end - at >= BLOCK_SIZE;
        uint32_t size = block ? BLOCK_SIZE : SECTOR_SIZE;
        if (!erase(block ? CMD_BLOCK_ERASE_64K : CMD_SECTOR_ERASE, at, size)) return false;
        writer.erased_to += size;
    }
    return true;
}

static bool all_erased(const uint8_t *data, uint32_t length) {
    for (uint32_t i = 0; i < length; ++i)
        if (data[i] != 0xFF) return false;
    return true;
}

bool flash_writer_write(const uint8_t *data, uint32_t length) {
    if (length > writer.end - writer.next) length = writer.end - writer.next; /* padding */
    while (length > 0) {
        uint32_t in_page = PAGE_SIZE - (writer.next & (PAGE_SIZE - 1));
        uint32_t chunk = length < TRANSFER_SIZE ? length : TRANSFER_SIZE;
        if (chunk > in_page) chunk = in_page;
        writer.digest_valid = false; /* until this chunk is read back */
        if (!erase_until(writer.next + chunk)) return false;
        /* Programming only clears bits, so erased bytes (an image's padding) need no program
         * operation; the read-back below still checks them. */
        if (!all_erased(data, chunk)) {
            wait_ready();
            if (!write_enable()) return false;
            addressed(CMD_PAGE_PROGRAM, writer.next, chunk, data, chunk, 0, 0);
        }
        /* Read back, as the ROM does: a protected or failing flash shows up here. */
        uint8_t check[TRANSFER_SIZE];
        flash_read(writer.next, check, chunk);
        for (uint32_t i = 0; i < chunk; ++i)
            if (check[i] != data[i]) return false;
        md5_update(&writer.md5, check, chunk);
        writer.digest_valid = true;
        writer.next += chunk;
        data += chunk;
        length -= chunk;
    }
    return true;
}
