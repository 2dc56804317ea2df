/* The serial protocol the stub speaks (../shared/reference/protocol.md): opcodes and the 16-bit
 * response codes it writes big-endian into its two status bytes. */
#ifndef ESPTOOLS_STUB_PROTOCOL_H
#define ESPTOOLS_STUB_PROTOCOL_H

enum stub_opcode {
    OP_FLASH_BEGIN = 0x02,
    OP_FLASH_DATA = 0x03,
    OP_FLASH_END = 0x04,
    OP_MEM_BEGIN = 0x05,
    OP_MEM_END = 0x06,
    OP_MEM_DATA = 0x07,
    OP_SYNC = 0x08,
    OP_WRITE_REG = 0x09,
    OP_READ_REG = 0x0A,
    OP_SPI_SET_PARAMS = 0x0B,
    OP_SPI_ATTACH = 0x0D,
    OP_CHANGE_BAUDRATE = 0x0F,
    OP_FLASH_DEFL_BEGIN = 0x10,
    OP_FLASH_DEFL_DATA = 0x11,
    OP_FLASH_DEFL_END = 0x12,
    OP_SPI_FLASH_MD5 = 0x13,
    OP_ERASE_FLASH = 0xD0,
    OP_ERASE_REGION = 0xD1,
    OP_READ_FLASH = 0xD2,
    /* Ours, outside the range Espressif's stubs use (0x00-0xEF): the MD5 of each sector of a
     * region, in one reply (esp-loader's fast reflash). */
    OP_SPI_FLASH_SECTOR_DIGESTS = 0xF0,
};

enum stub_response {
    RESPONSE_OK = 0x0000,
    RESPONSE_BAD_DATA_LENGTH = 0xC000,
    RESPONSE_BAD_CHECKSUM = 0xC100,
    RESPONSE_BAD_BLOCK_SIZE = 0xC200,
    RESPONSE_INVALID_COMMAND = 0xC300,
    RESPONSE_SPI_FAILED = 0xC400,
    RESPONSE_NOT_IN_FLASH_MODE = 0xC600,
    RESPONSE_INFLATE_ERROR = 0xC700,
    RESPONSE_NOT_ENOUGH_DATA = 0xC800,
    RESPONSE_TOO_MUCH_DATA = 0xC900,
    RESPONSE_NOT_IMPLEMENTED = 0xFF00,
};

/* Largest data block a host sends the stub (FLASH_DATA payload), and the whole request frame. */
#define STUB_BLOCK_SIZE 0x4000u
#define STUB_FRAME_CAPACITY (8u + 16u + STUB_BLOCK_SIZE + 64u)
/* SPI_FLASH_SECTOR_DIGESTS: sectors of 4 KiB to 64 KiB (a power of two), at most this many per
 * request, so that one reply stays within a 16-bit data length. */
#define STUB_MAX_SECTOR_DIGESTS 4000u

#endif
