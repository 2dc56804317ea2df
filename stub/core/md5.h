/* MD5 (RFC 1321), for SPI_FLASH_MD5 and READ_FLASH's closing digest. */
#ifndef ESPTOOLS_STUB_MD5_H
#define ESPTOOLS_STUB_MD5_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct md5_context {
    uint32_t state[4];
    uint32_t length_low; /* message length in bytes, split so no 64-bit arithmetic is needed */
    uint32_t length_high;
    uint8_t block[64];
};

void md5_init(struct md5_context *context);
void md5_update(struct md5_context *context, const uint8_t *data, size_t length);
void md5_final(struct md5_context *context, uint8_t digest[16]);

#ifdef __cplusplus
}
#endif

#endif
