#include "md5.h"

/* Per-round shift amounts and the sine-derived constants of RFC 1321 section 3.4. */
static const uint8_t kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                   5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                   4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                   6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static const uint32_t kSine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static uint32_t rotate_left(uint32_t value, unsigned bits) {
    return (value << bits) | (value >> (32 - bits));
}

static void md5_block(uint32_t state[4], const uint8_t block[64]) {
    uint32_t words[16];
    for (unsigned i = 0; i < 16; ++i)
        words[i] = (uint32_t)block[4 * i] | (uint32_t)block[4 * i + 1] << 8 |
                   (uint32_t)block[4 * i + 2] << 16 | (uint32_t)block[4 * i + 3] << 24;
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    for (unsigned i = 0; i < 64; ++i) {
        uint32_t f;
        unsigned g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        uint32_t next = d;
        d = c;
        c = b;
        b = b + rotate_left(a + f + kSine[i] + words[g], kShift[i]);
        a = next;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

void md5_init(struct md5_context *context) {
    context->state[0] = 0x67452301;
    context->state[1] = 0xefcdab89;
    context->state[2] = 0x98badcfe;
    context->state[3] = 0x10325476;
    context->length_low = 0;
    context->length_high = 0;
}

void md5_update(struct md5_context *context, const uint8_t *data, size_t length) {
    unsigned used = context->length_low & 63;
    uint32_t before = context->length_low;
    context->length_low += (uint32_t)length;
    if (context->length_low < before) ++context->length_high;
    while (length > 0) {
        unsigned take = 64 - used;
        if (take > length) take = (unsigned)length;
        for (unsigned i = 0; i < take; ++i) context->block[used + i] = data[i];
        used += take;
        data += take;
        length -= take;
        if (used == 64) {
            md5_block(context->state, context->block);
            used = 0;
        }
    }
}

void md5_final(struct md5_context *context, uint8_t digest[16]) {
    uint32_t bits_low = context->length_low << 3;
    uint32_t bits_high = context->length_high << 3 | context->length_low >> 29;
    static const uint8_t kPadding[64] = {0x80};
    unsigned used = context->length_low & 63;
    md5_update(context, kPadding, used < 56 ? 56 - used : 120 - used);
    uint8_t length_bytes[8];
    for (unsigned i = 0; i < 4; ++i) {
        length_bytes[i] = (uint8_t)(bits_low >> (8 * i));
        length_bytes[4 + i] = (uint8_t)(bits_high >> (8 * i));
    }
    md5_update(context, length_bytes, 8);
    for (unsigned i = 0; i < 16; ++i) digest[i] = (uint8_t)(context->state[i / 4] >> (8 * (i % 4)));
}
