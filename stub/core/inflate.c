/*
 * Streaming zlib / DEFLATE decompressor (RFC 1950, RFC 1951). See inflate.h.
 *
 * Design: a 32-bit LSB-first bit accumulator and a state machine whose every step is atomic: a step
 * first makes sure the bits it needs are in the accumulator (pulling input bytes one at a time) and
 * only then consumes them. When the input runs out mid-step the step is simply retried on the next
 * call, so a block of input may end anywhere. Values that span steps (match length, distance,
 * header counts) live in the state struct. Huffman codes decode through a direct table for short
 * codes and a canonical count/symbol walk for the rest.
 *
 * Bytes are pulled into the accumulator only while it holds at most 24 bits, so it never holds more
 * than 32. That also means nothing after the Adler-32 trailer is ever consumed.
 */
#include "inflate.h"

#include <stdbool.h>

#define WSIZE INFLATE_WINDOW_SIZE
#define WMASK (INFLATE_WINDOW_SIZE - 1u)
#define LIT_FAST INFLATE_LIT_FAST_BITS
#define DIST_FAST INFLATE_DIST_FAST_BITS
#define MAXBITS 15u

#if defined(__has_attribute)
#if __has_attribute(fallthrough)
#define FALLTHROUGH __attribute__((fallthrough))
#endif
#endif
#ifndef FALLTHROUGH
#define FALLTHROUGH                                                                                \
    do {                                                                                           \
    } while (0)
#endif

enum {
    M_HEADER,
    M_BLOCK,
    M_STORED_HDR,
    M_STORED_COPY,
    M_DYN_HDR,
    M_DYN_CLEN,
    M_DYN_LENS,
    M_SYM,
    M_LEN_EXTRA,
    M_DIST,
    M_DIST_EXTRA,
    M_COPY,
    M_TRAILER,
    M_DONE,
    M_ERROR
};

static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t clen_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                       11, 4,  12, 3, 13, 2, 14, 1, 15};

/* ---------------------------------------------------------------------------------------------- */
/* Adler-32 without division: 65536 = 15 (mod 65521).                                             */

#define ADLER_MOD 65521u
#define ADLER_NMAX 5552u /* largest n such that 255n(n+1)/2 + (n+1)(MOD-1) < 2^32 */

static uint32_t adler_reduce(uint32_t x) {
    x = (x & 0xffffu) + (x >> 16) * 15u; /* < 2^20 */
    x = (x & 0xffffu) + (x >> 16) * 15u; /* < 65536 + 15 * 16 */
    if (x >= ADLER_MOD) x -= ADLER_MOD;
    return x;
}

/* Adds window[sum_pos, end) to the running Adler-32. */
static void adler_update(struct inflate_state *s, unsigned end) {
    uint32_t a = s->adler & 0xffffu;
    uint32_t b = s->adler >> 16;
    const uint8_t *p = s->window + s->sum_pos;
    unsigned n = end - s->sum_pos;
    while (n != 0) {
        unsigned k = n < ADLER_NMAX ? n : ADLER_NMAX;
        n -= k;
        while (k-- != 0) {
            a += *p++;
            b += a;
        }
        a = adler_reduce(a);
        b = adler_reduce(b);
    }
    s->adler = (b << 16) | a;
    s->sum_pos = (uint16_t)end;
}

/* ---------------------------------------------------------------------------------------------- */
/* Huffman tables. */

/*
 * Builds the tables for the n code lengths in lens (count[0] gets the number of coded symbols).
 * Returns false for an over-subscribed code, or an incomplete one unless allow_single and it is a
 * lone code of length 1 (as zlib allows for literal/length and distance codes). An empty code is
 * accepted: every decode with it fails.
 */
static bool huff_build(uint16_t *count, uint16_t *symbol, uint16_t *fast, unsigned fast_bits,
                       const uint8_t *lens, unsigned n, bool allow_single) {
    uint16_t offs[MAXBITS + 1];
    unsigned len, sym, max = 0;
    int left = 1;

    for (len = 0; len <= MAXBITS; len++) count[len] = 0;
    for (sym = 0; sym < n; sym++) count[lens[sym]]++;
    count[0] = (uint16_t)(n - count[0]); /* count[0] holds the number of coded symbols */
    for (sym = 0; sym < (1u << fast_bits); sym++) fast[sym] = 0;
    for (len = 1; len <= MAXBITS; len++)
        if (count[len] != 0) max = len;
    if (max == 0) return true;

    for (len = 1; len <= MAXBITS; len++) {
        left <<= 1;
        left -= count[len];
        if (left < 0) return false;
    }
    if (left > 0 && !(allow_single && max == 1)) return false;

    offs[1] = 0;
    for (len = 1; len < MAXBITS; len++) offs[len + 1] = (uint16_t)(offs[len] + count[len]);
    for (sym = 0; sym < n; sym++)
        if (lens[sym] != 0) symbol[offs[lens[sym]]++] = (uint16_t)sym;

    /* Direct entries for codes of at most fast_bits bits, indexed by the bit-reversed code. */
    {
        unsigned code = 0, index = 0;
        for (len = 1; len <= fast_bits; len++) {
            unsigned k;
            for (k = 0; k < count[len]; k++, code++) {
                unsigned rev = 0, c = code, i;
                uint16_t entry = (uint16_t)((len << 9) | symbol[index++]);
                for (i = 0; i < len; i++) {
                    rev = (rev << 1) | (c & 1u);
                    c >>= 1;
                }
                for (i = rev; i < (1u << fast_bits); i += 1u << len) fast[i] = entry;
            }
            code <<= 1;
        }
    }
    return true;
}

#define DECODE_NEED (-1)
#define DECODE_BAD (-2)

/*
 * Decodes one symbol from the low bitcnt bits of bitbuf without consuming anything. Returns the
 * symbol and sets *used to its code length, or DECODE_NEED if more bits are needed, or DECODE_BAD
 * for a bit pattern that is no code.
 */
static inline int huff_decode(const uint16_t *count, const uint16_t *symbol, const uint16_t *fast,
                              unsigned fast_bits, uint32_t bitbuf, unsigned bitcnt,
                              unsigned *used) {
    unsigned e = fast[bitbuf & ((1u << fast_bits) - 1u)];
    int code = 0, first = 0, index = 0;
    unsigned len;

    if (e != 0) {
        len = e >> 9;
        if (len > bitcnt) return DECODE_NEED;
        *used = len;
        return (int)(e & 511u);
    }
    /* Canonical walk: code is the first len bits read MSB-first; first is the first code of length
     * len, index the position of its symbol. When no code is left at this length or longer (an
     * empty or incomplete code) the bits are invalid: say so without waiting for more input. */
    for (len = 1; len <= MAXBITS; len++) {
        int cnt;
        if (index >= count[0]) return DECODE_BAD;
        if (len > bitcnt) return DECODE_NEED;
        code |= (int)((bitbuf >> (len - 1u)) & 1u);
        cnt = count[len];
        if (code - cnt < first) {
            *used = len;
            return symbol[index + (code - first)];
        }
        index += cnt;
        first += cnt;
        first <<= 1;
        code <<= 1;
    }
    return DECODE_BAD;
}

static void build_fixed(struct inflate_state *s) {
    unsigned i;
    for (i = 0; i < 144; i++) s->lens[i] = 8;
    for (; i < 256; i++) s->lens[i] = 9;
    for (; i < 280; i++) s->lens[i] = 7;
    for (; i < 288; i++) s->lens[i] = 8;
    for (i = 0; i < 32; i++) s->lens[288 + i] = 5;
    (void)huff_build(s->lit.count, s->lit.symbol, s->lit.fast, LIT_FAST, s->lens, 288, false);
    (void)huff_build(s->dist_tab.count, s->dist_tab.symbol, s->dist_tab.fast, DIST_FAST,
                     s->lens + 288, 32, false);
    s->fixed = 1;
}

/* x mod 31 for x < 65536, without division: 32 = 1 (mod 31), so sum the base-32 digits. */
static unsigned mod31(unsigned x) {
    x = (x & 31u) + ((x >> 5) & 31u) + ((x >> 10) & 31u) + (x >> 15); /* <= 94 */
    x = (x & 31u) + (x >> 5);                                         /* <= 33 */
    return x >= 31u ? x - 31u : x;
}

/* ---------------------------------------------------------------------------------------------- */
/* Public API. */

void inflate_init(struct inflate_state *s, uint8_t *window) {
    s->window = window;
    s->output_slice = 0;
    s->bitbuf = 0;
    s->adler = 1;
    s->total_out = 0;
    s->wpos = 0;
    s->flush_pos = 0;
    s->sum_pos = 0;
    s->len = 0;
    s->dist = 0;
    s->nlen = 0;
    s->ndist = 0;
    s->ncode = 0;
    s->idx = 0;
    s->bitcnt = 0;
    s->mode = M_HEADER;
    s->final = 0;
    s->wrapped = 0;
    s->fixed = 0;
    s->error = 0;
}

void inflate_take_output(struct inflate_state *s, const uint8_t **data, size_t *len) {
    unsigned n = (unsigned)s->wpos - s->flush_pos;
    adler_update(s, s->wpos);
    *data = s->window + s->flush_pos;
    *len = n;
    s->total_out += n;
    if (s->wpos == WSIZE) {
        s->wpos = 0;
        s->flush_pos = 0;
        s->sum_pos = 0;
        s->wrapped = 1;
    } else {
        s->flush_pos = s->wpos;
    }
}

uint32_t inflate_total_out(const struct inflate_state *s) {
    return s->total_out;
}

/* Pull one input byte into the accumulator, or suspend for more input. */
#define PULLBYTE()                                                                                 \
    do {                                                                                           \
        if (in == in_end) goto need_input;                                                         \
        bitbuf |= (uint32_t)*in++ << bitcnt;                                                       \
        bitcnt += 8;                                                                               \
    } while (0)
/* Make sure n bits are available (n <= 25, or n <= 32 when bitcnt is a multiple of 8). */
#define NEEDBITS(n)                                                                                \
    do {                                                                                           \
        while (bitcnt < (unsigned)(n)) PULLBYTE();                                                 \
    } while (0)
/* Top up the accumulator as far as the input allows (to at least 25 bits when possible). */
#define REFILL()                                                                                   \
    do {                                                                                           \
        while (bitcnt <= 24 && in != in_end) {                                                     \
            bitbuf |= (uint32_t)*in++ << bitcnt;                                                   \
            bitcnt += 8;                                                                           \
        }                                                                                          \
    } while (0)
#define BITS(n) (bitbuf & ((1u << (n)) - 1u)) /* n < 32 */
#define DROP(n)                                                                                    \
    do {                                                                                           \
        bitbuf >>= (n);                                                                            \
        bitcnt -= (n);                                                                             \
    } while (0) /* n < 32 */
#define FAIL(code)                                                                                 \
    do {                                                                                           \
        ret = (code);                                                                              \
        s->error = (code);                                                                         \
        mode = M_ERROR;                                                                            \
        goto suspend;                                                                              \
    } while (0)

inflate_status inflate_run(struct inflate_state *s, const uint8_t **in_p, size_t *in_len) {
    const uint8_t *in = *in_p;
    const uint8_t *in_end = *in_len != 0 ? in + *in_len : in;
    uint32_t bitbuf = s->bitbuf;
    unsigned bitcnt = s->bitcnt;
    uint8_t *const win = s->window;
    unsigned wpos = s->wpos;
    /* With an output slice, a call yields at most that much, so the caller gets control back (to
     * drain its UART) after bounded work even where a few input bytes expand to kilobytes. */
    const unsigned stop = s->output_slice && s->flush_pos + s->output_slice < WSIZE
                              ? s->flush_pos + s->output_slice
                              : WSIZE;
    unsigned mode = s->mode;
    unsigned len = s->len;
    unsigned dist = s->dist;
    inflate_status ret;

    for (;;) {
        switch (mode) {
        case M_HEADER: {
            unsigned cmf, flg;
            NEEDBITS(16);
            cmf = BITS(8);
            flg = (bitbuf >> 8) & 0xffu;
            if (mod31((cmf << 8) | flg) != 0 || (cmf & 15u) != 8 || (cmf >> 4) > 7 ||
                (flg & 0x20u) != 0)
                FAIL(INFLATE_ERR_HEADER);
            DROP(16);
            mode = M_BLOCK;
            break;
        }

        case M_BLOCK: {
            unsigned type;
            NEEDBITS(3);
            s->final = (uint8_t)BITS(1);
            type = (bitbuf >> 1) & 3u;
            DROP(3);
            if (type == 0) {
                mode = M_STORED_HDR;
            } else if (type == 1) {
                if (!s->fixed) build_fixed(s);
                mode = M_SYM;
            } else if (type == 2) {
                mode = M_DYN_HDR;
            } else {
                FAIL(INFLATE_ERR_BLOCK_TYPE);
            }
            break;
        }

        case M_STORED_HDR:
            DROP(bitcnt & 7u);
            NEEDBITS(32); /* bitcnt is a multiple of 8, so this never overfills */
            if ((bitbuf & 0xffffu) != (~bitbuf >> 16)) FAIL(INFLATE_ERR_STORED_LEN);
            len = bitbuf & 0xffffu;
            bitbuf = 0;
            bitcnt = 0;
            mode = M_STORED_COPY;
            FALLTHROUGH;

        case M_STORED_COPY:
            while (len != 0) {
                unsigned n = len, avail;
                size_t have_in = (size_t)(in_end - in);
                if (wpos >= stop) {
                    ret = INFLATE_OUTPUT_FULL;
                    goto suspend;
                }
                if (n > stop - wpos) n = stop - wpos;
                avail = have_in < n ? (unsigned)have_in : n;
                if (avail == 0) goto need_input;
                len -= avail;
                while (avail-- != 0) win[wpos++] = *in++;
            }
            mode = s->final ? M_TRAILER : M_BLOCK;
            break;

        case M_DYN_HDR:
            NEEDBITS(14);
            s->nlen = (uint16_t)(BITS(5) + 257u);
            s->ndist = (uint16_t)(((bitbuf >> 5) & 31u) + 1u);
            s->ncode = (uint16_t)(((bitbuf >> 10) & 15u) + 4u);
            DROP(14);
            if (s->nlen > 286 || s->ndist > 30) FAIL(INFLATE_ERR_CODE_LENGTHS);
            s->idx = 0;
            s->fixed = 0;
            mode = M_DYN_CLEN;
            FALLTHROUGH;

        case M_DYN_CLEN:
            while (s->idx < s->ncode) {
                NEEDBITS(3);
                s->lens[clen_order[s->idx++]] = (uint8_t)BITS(3);
                DROP(3);
            }
            while (s->idx < 19) s->lens[clen_order[s->idx++]] = 0;
            if (!huff_build(s->dist_tab.count, s->dist_tab.symbol, s->dist_tab.fast, DIST_FAST,
                            s->lens, 19, false))
                FAIL(INFLATE_ERR_CODE_LENGTHS);
            s->idx = 0;
            mode = M_DYN_LENS;
            FALLTHROUGH;

        case M_DYN_LENS: {
            unsigned total = (unsigned)s->nlen + s->ndist;
            unsigned idx = s->idx;
            while (idx < total) {
                unsigned used = 0, extra, rep, val;
                int sym;
                REFILL();
                sym = huff_decode(s->dist_tab.count, s->dist_tab.symbol, s->dist_tab.fast,
                                  DIST_FAST, bitbuf, bitcnt, &used);
                if (sym < 0) {
                    s->idx = (uint16_t)idx;
                    if (sym == DECODE_NEED) goto need_input;
                    FAIL(INFLATE_ERR_CODE_LENGTHS);
                }
                if (sym < 16) {
                    DROP(used);
                    s->lens[idx++] = (uint8_t)sym;
                    continue;
                }
                extra = sym == 16 ? 2u : sym == 17 ? 3u : 7u;
                if (bitcnt < used + extra) {
                    s->idx = (uint16_t)idx;
                    goto need_input;
                }
                DROP(used);
                rep = BITS(extra);
                DROP(extra);
                if (sym == 16) {
                    if (idx == 0) {
                        s->idx = (uint16_t)idx;
                        FAIL(INFLATE_ERR_CODE_LENGTHS);
                    }
                    val = s->lens[idx - 1];
                    rep += 3;
                } else {
                    val = 0;
                    rep += sym == 17 ? 3u : 11u;
                }
                if (rep > total - idx) {
                    s->idx = (uint16_t)idx;
                    FAIL(INFLATE_ERR_CODE_LENGTHS);
                }
                while (rep-- != 0) s->lens[idx++] = (uint8_t)val;
            }
            s->idx = (uint16_t)idx;
            if (s->lens[256] == 0 ||
                !huff_build(s->lit.count, s->lit.symbol, s->lit.fast, LIT_FAST, s->lens, s->nlen,
                            true) ||
                !huff_build(s->dist_tab.count, s->dist_tab.symbol, s->dist_tab.fast, DIST_FAST,
                            s->lens + s->nlen, s->ndist, true))
                FAIL(INFLATE_ERR_CODE_LENGTHS);
            mode = M_SYM;
            break;
        }

        case M_SYM:
            for (;;) {
                unsigned used = 0;
                int sym;
                REFILL();
                sym = huff_decode(s->lit.count, s->lit.symbol, s->lit.fast, LIT_FAST, bitbuf,
                                  bitcnt, &used);
                if (sym < 256) {
                    if (sym < 0) {
                        if (sym == DECODE_NEED) goto need_input;
                        FAIL(INFLATE_ERR_SYMBOL);
                    }
                    if (wpos >= stop) {
                        ret = INFLATE_OUTPUT_FULL;
                        goto suspend;
                    }
                    DROP(used);
                    win[wpos++] = (uint8_t)sym;
                    continue;
                }
                if (sym == 256) {
                    DROP(used);
                    mode = s->final ? M_TRAILER : M_BLOCK;
                    break;
                }
                if (sym > 285) FAIL(INFLATE_ERR_SYMBOL);
                DROP(used);
                len = (unsigned)sym - 257u;
                mode = M_LEN_EXTRA;
                break;
            }
            if (mode != M_LEN_EXTRA) break;
            FALLTHROUGH;

        case M_LEN_EXTRA:
            NEEDBITS(len_extra[len]);
            {
                unsigned extra = len_extra[len];
                unsigned base = len_base[len];
                len = base + BITS(extra);
                DROP(extra);
            }
            mode = M_DIST;
            FALLTHROUGH;

        case M_DIST: {
            unsigned used = 0;
            int sym;
            REFILL();
            sym = huff_decode(s->dist_tab.count, s->dist_tab.symbol, s->dist_tab.fast, DIST_FAST,
                              bitbuf, bitcnt, &used);
            if (sym < 0) {
                if (sym == DECODE_NEED) goto need_input;
                FAIL(INFLATE_ERR_SYMBOL);
            }
            if (sym >= 30) FAIL(INFLATE_ERR_SYMBOL);
            DROP(used);
            dist = (unsigned)sym;
            mode = M_DIST_EXTRA;
        }
            FALLTHROUGH;

        case M_DIST_EXTRA:
            NEEDBITS(dist_extra[dist]);
            {
                unsigned extra = dist_extra[dist];
                unsigned base = dist_base[dist];
                dist = base + BITS(extra);
                DROP(extra);
            }
            if (dist > (s->wrapped ? WSIZE : wpos)) FAIL(INFLATE_ERR_DISTANCE);
            mode = M_COPY;
            FALLTHROUGH;

        case M_COPY:
            while (len != 0) {
                unsigned n = len, src;
                if (wpos >= stop) {
                    ret = INFLATE_OUTPUT_FULL;
                    goto suspend;
                }
                if (n > stop - wpos) n = stop - wpos;
                len -= n;
                src = (wpos - dist) & WMASK;
                if (src + n <= WSIZE) {
                    /* No wrap of the source; a forward byte copy also handles overlap (dist < n).
                     */
                    const uint8_t *sp = win + src;
                    uint8_t *dp = win + wpos;
                    wpos += n;
                    while (n-- != 0) *dp++ = *sp++;
                } else {
                    while (n-- != 0) {
                        win[wpos++] = win[src];
                        src = (src + 1u) & WMASK;
                    }
                }
            }
            mode = M_SYM;
            break;

        case M_TRAILER: {
            uint32_t want;
            DROP(bitcnt & 7u);
            NEEDBITS(32); /* bitcnt is a multiple of 8 */
            want = ((bitbuf & 0xffu) << 24) | ((bitbuf & 0xff00u) << 8) |
                   ((bitbuf >> 8) & 0xff00u) | (bitbuf >> 24);
            bitbuf = 0;
            bitcnt = 0;
            s->wpos = (uint16_t)wpos;
            adler_update(s, wpos);
            if (s->adler != want) FAIL(INFLATE_ERR_ADLER);
            mode = M_DONE;
        }
            FALLTHROUGH;

        case M_DONE:
            ret = INFLATE_DONE;
            goto suspend;

        default: /* M_ERROR */
            ret = (inflate_status)s->error;
            goto suspend;
        }
    }

need_input:
    ret = INFLATE_NEED_INPUT;
suspend:
    s->bitbuf = bitbuf;
    s->bitcnt = (uint8_t)bitcnt;
    s->wpos = (uint16_t)wpos;
    s->mode = (uint8_t)mode;
    s->len = (uint16_t)len;
    s->dist = (uint16_t)dist;
    *in_p = in;
    *in_len = (size_t)(in_end - in);
    return ret;
}
