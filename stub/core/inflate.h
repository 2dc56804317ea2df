/*
 * Streaming zlib (RFC 1950) / DEFLATE (RFC 1951) decompressor for the flasher stub.
 *
 * Freestanding C11: no libc, no allocation, no recursion, no division, no 64-bit arithmetic.
 *
 * The caller owns a 32 KB window. The decoder writes its output straight into that window, which
 * is also the LZ77 dictionary; the window is used circularly. Output accumulates in the window
 * until the caller takes it with inflate_take_output(), which hands back a contiguous slice of the
 * window.
 *
 * Input can be split anywhere (even inside a code or a header): inflate_run() consumes what it is
 * given and returns INFLATE_NEED_INPUT once all of it has been used; it resumes exactly where it
 * stopped on the next call. It never consumes bytes past the end of the zlib stream, so at
 * INFLATE_DONE *in / *in_len point just past the Adler-32 trailer.
 *
 * Typical use:
 *
 *     inflate_init(&st, window);
 *     for each compressed block (p, n) {
 *         for (;;) {
 *             inflate_status r = inflate_run(&st, &p, &n);
 *             if (r < 0) fail(r);
 *             inflate_take_output(&st, &out, &out_len);   // may be empty
 *             write(out, out_len);
 *             if (r == INFLATE_NEED_INPUT) break;           // n == 0 here
 *             if (r == INFLATE_DONE) finish();
 *             // INFLATE_OUTPUT_FULL: loop and run again
 *         }
 *     }
 *
 * The slice from inflate_take_output() stays valid until the next inflate_run() call.
 */
#ifndef ESPTOOLS_STUB_CORE_INFLATE_H
#define ESPTOOLS_STUB_CORE_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the window the caller must provide (the DEFLATE maximum distance). */
#define INFLATE_WINDOW_SIZE 32768u

/* Direct-lookup table widths; longer codes fall back to a canonical (count/symbol) walk. */
#define INFLATE_LIT_FAST_BITS 9u
#define INFLATE_DIST_FAST_BITS 7u

typedef enum {
    INFLATE_NEED_INPUT = 0,  /* all input consumed (*in_len == 0); feed more */
    INFLATE_OUTPUT_FULL = 1, /* window full (or output_slice made): take the output, run again */
    INFLATE_DONE = 2,        /* stream complete and Adler-32 verified; take the remaining output */

    INFLATE_ERR_HEADER =
        -1, /* bad zlib header: method, window size, FCHECK, or preset dictionary */
    INFLATE_ERR_BLOCK_TYPE = -2, /* reserved block type 3 */
    INFLATE_ERR_STORED_LEN = -3, /* stored block LEN != ~NLEN */
    INFLATE_ERR_CODE_LENGTHS =
        -4, /* bad dynamic block header (counts, repeats, over/under-full codes, no EOB) */
    INFLATE_ERR_SYMBOL = -5,   /* invalid literal/length or distance code in the data */
    INFLATE_ERR_DISTANCE = -6, /* distance further back than the output produced so far */
    INFLATE_ERR_ADLER = -7     /* Adler-32 trailer mismatch */
} inflate_status;

/* Canonical Huffman decoding tables. fast[] entries are (length << 9) | symbol, 0 = not direct. */
struct inflate_huff_lit {
    uint16_t count[16];
    uint16_t symbol[288];
    uint16_t fast[1u << INFLATE_LIT_FAST_BITS];
};

struct inflate_huff_dist {
    uint16_t count[16];
    uint16_t symbol[32];
    uint16_t fast[1u << INFLATE_DIST_FAST_BITS];
};

/* Decoder state: treat as opaque. */
struct inflate_state {
    uint8_t *window;        /* caller's INFLATE_WINDOW_SIZE-byte window */
    uint32_t bitbuf;        /* bit accumulator, LSB first */
    uint32_t adler;         /* running Adler-32 of the output (covers window[..sum_pos)) */
    uint32_t total_out;     /* bytes handed out by inflate_take_output() so far */
    uint16_t wpos;          /* next write position in the window (0..INFLATE_WINDOW_SIZE) */
    uint16_t flush_pos;     /* start of output not yet taken */
    uint16_t sum_pos;       /* end of output already added to the Adler-32 */
    uint16_t len;           /* stored bytes left / match length / length-or-distance symbol */
    uint16_t dist;          /* match distance */
    uint16_t nlen;          /* dynamic header: literal/length code count */
    uint16_t ndist;         /* dynamic header: distance code count */
    uint16_t ncode;         /* dynamic header: code-length code count */
    uint16_t idx;           /* dynamic header: lengths read so far */
    uint16_t output_slice;  /* most output per inflate_run() (0: up to a full window); the
                               caller sets it after inflate_init() to bound each call's work */
    uint8_t bitcnt;         /* valid bits in bitbuf (0..32) */
    uint8_t mode;           /* state machine position */
    uint8_t final;          /* current block is the last one */
    uint8_t wrapped;        /* the window has wrapped: the whole window is valid history */
    uint8_t fixed;          /* the tables currently hold the fixed Huffman codes */
    int8_t error;           /* sticky error status */
    uint8_t lens[288 + 32]; /* code lengths being read (dynamic blocks) */
    struct inflate_huff_lit lit;
    struct inflate_huff_dist dist_tab; /* also holds the code-length code while reading a header */
};

/* Prepares s for a new zlib stream. window must hold INFLATE_WINDOW_SIZE bytes. */
void inflate_init(struct inflate_state *s, uint8_t *window);

/* Decodes from *in (length *in_len), advancing both past the bytes consumed. */
inflate_status inflate_run(struct inflate_state *s, const uint8_t **in, size_t *in_len);

/* Hands out the output produced since the previous call (possibly empty) and frees its room. */
void inflate_take_output(struct inflate_state *s, const uint8_t **data, size_t *len);

/* Total bytes handed out by inflate_take_output() so far. */
uint32_t inflate_total_out(const struct inflate_state *s);

#ifdef __cplusplus
}
#endif

#endif /* ESPTOOLS_STUB_CORE_INFLATE_H */
