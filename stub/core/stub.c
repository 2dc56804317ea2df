#include "stub.h"

#include "flash.h"
#include "inflate.h"
#include "md5.h"
#include "protocol.h"
#include "stub_hal.h"

#include <stddef.h>

#define SLIP_END 0xC0
#define SLIP_ESCAPE 0xDB
#define SLIP_ESCAPED_END 0xDC
#define SLIP_ESCAPED_ESCAPE 0xDD

/* ---- receiving: two frame buffers, so one can fill while the other is handled ---------------- */

enum buffer_state { BUFFER_FREE, BUFFER_FILLING, BUFFER_READY, BUFFER_BUSY };

static struct {
    _Alignas(4) uint8_t data[2][STUB_FRAME_CAPACITY];
    uint32_t length[2];
    uint8_t state[2];
    bool too_long[2];
    int filling; /* buffer receiving the current frame, -1 between frames */
    bool escape;
    uint8_t order; /* which READY buffer came first */
    /* During READ_FLASH the host's 4-byte acknowledgements (running totals) are taken as they
     * arrive, the newest kept: with one buffer held by the request, queuing them could lose the
     * last one and hang the transfer. */
    bool taking_acks;
    bool ack_arrived;
    uint32_t ack;
} rx;

static void receive_byte(uint8_t byte) {
    if (rx.filling < 0) {
        if (byte != SLIP_END) return; /* noise between frames */
        int free_buffer = rx.state[0] == BUFFER_FREE ? 0 : rx.state[1] == BUFFER_FREE ? 1 : -1;
        if (free_buffer < 0) return; /* the host never sends a third frame before an answer */
        rx.filling = free_buffer;
        rx.state[free_buffer] = BUFFER_FILLING;
        rx.length[free_buffer] = 0;
        rx.too_long[free_buffer] = false;
        rx.escape = false;
        return;
    }
    int b = rx.filling;
    if (byte == SLIP_END) {
        if (rx.length[b] == 0) return; /* C0 C0: the previous END doubled as this START */
        if (rx.taking_acks && rx.length[b] == 4 && !rx.too_long[b]) {
            const uint8_t *d = rx.data[b];
            rx.ack =
                (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
            rx.ack_arrived = true;
            rx.state[b] = BUFFER_FREE;
            rx.filling = -1;
            return;
        }
        rx.state[b] = BUFFER_READY;
        if (rx.state[!b] != BUFFER_READY) rx.order = (uint8_t)b;
        rx.filling = -1;
        return;
    }
    if (rx.escape) {
        rx.escape = false;
        byte = byte == SLIP_ESCAPED_END      ? SLIP_END
               : byte == SLIP_ESCAPED_ESCAPE ? SLIP_ESCAPE
                                             : byte;
    } else if (byte == SLIP_ESCAPE) {
        rx.escape = true;
        return;
    }
    if (rx.length[b] < STUB_FRAME_CAPACITY)
        rx.data[b][rx.length[b]++] = byte;
    else
        rx.too_long[b] = true;
}

void stub_service_uart(void) {
    for (uint32_t count = hal_uart_rx_count(); count > 0; --count) receive_byte(hal_uart_rx_byte());
}

/* The oldest complete frame, marked busy; -1 if none. */
static int take_frame(void) {
    int b = rx.state[rx.order] == BUFFER_READY    ? rx.order
            : rx.state[!rx.order] == BUFFER_READY ? !rx.order
                                                  : -1;
    if (b >= 0) {
        rx.state[b] = BUFFER_BUSY;
        rx.order = (uint8_t)!b;
    }
    return b;
}

static void release_frame(int b) {
    rx.state[b] = BUFFER_FREE;
}

/* ---- sending ------------------------------------------------------------------------------- */

static void send_raw(uint8_t byte) {
    while (hal_uart_tx_room() == 0) stub_service_uart();
    hal_uart_tx_byte(byte);
}

static void send_escaped(const uint8_t *data, uint32_t length) {
    for (uint32_t i = 0; i < length; ++i) {
        if (data[i] == SLIP_END) {
            send_raw(SLIP_ESCAPE);
            send_raw(SLIP_ESCAPED_END);
        } else if (data[i] == SLIP_ESCAPE) {
            send_raw(SLIP_ESCAPE);
            send_raw(SLIP_ESCAPED_ESCAPE);
        } else {
            send_raw(data[i]);
        }
    }
}

static void send_frame(const uint8_t *data, uint32_t length) {
    send_raw(SLIP_END);
    send_escaped(data, length);
    send_raw(SLIP_END);
    hal_uart_flush();
}

static void put32(uint8_t *out, uint32_t value) {
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
    out[2] = (uint8_t)(value >> 16);
    out[3] = (uint8_t)(value >> 24);
}

static uint32_t get32(const uint8_t *in) {
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

static void respond(uint8_t op, uint32_t value, const uint8_t *data, uint32_t length,
                    uint16_t response) {
    uint8_t header[8] = {0x01, op, (uint8_t)(length + 2), (uint8_t)((length + 2) >> 8)};
    put32(header + 4, value);
    uint8_t status[2] = {(uint8_t)(response >> 8), (uint8_t)response};
    send_raw(SLIP_END);
    send_escaped(header, 8);
    send_escaped(data, length);
    send_escaped(status, 2);
    send_raw(SLIP_END);
    hal_uart_flush();
}

/* ---- commands ------------------------------------------------------------------------------ */

#define INFLATE_SLICE 256u

static struct {
    enum { SESSION_NONE, SESSION_FLASH, SESSION_DEFLATE, SESSION_MEMORY } kind;
    uint32_t memory_address, memory_remaining;
    uint32_t flash_size;    /* from SPI_SET_PARAMS; 0 = not told */
    uint16_t pending_error; /* from work done after an answer: reported on the next command */
    uint32_t next_sequence; /* of the *_DATA block the session expects */
    /* A failed write fails the rest of its session too: a reply carrying the first report can be
     * damaged on the way, and the host's retry must not be told all is well. */
    uint16_t session_error;
    struct inflate_state inflater;
    uint8_t window[INFLATE_WINDOW_SIZE];
} stub;

/* XOR of the bytes, a word at a time where the data is aligned (a frame's data always is): the
 * answer to a 16 KiB block waits for this. */
typedef uint32_t __attribute__((may_alias)) aliased_word;
static uint8_t checksum(const uint8_t *data, uint32_t length) {
    uint32_t i = 0, words = 0;
    if (((uintptr_t)data & 3u) == 0)
        for (; i + 4 <= length; i += 4) words ^= *(const aliased_word *)(const void *)(data + i);
    uint8_t sum = (uint8_t)(0xEFu ^ words ^ words >> 8 ^ words >> 16 ^ words >> 24);
    for (; i < length; ++i) sum ^= data[i];
    return sum;
}

/* Checks a *_DATA payload (length, sequence, two zero words, data). */
static uint16_t check_data(const uint8_t *data, uint32_t size, uint32_t header_checksum) {
    if (size < 16) return RESPONSE_NOT_ENOUGH_DATA;
    if (get32(data) != size - 16) return RESPONSE_TOO_MUCH_DATA;
    if (checksum(data + 16, size - 16) != (uint8_t)header_checksum) return RESPONSE_BAD_CHECKSUM;
    return RESPONSE_OK;
}

/* A block sent again because our answer to it was lost is answered again, not applied twice
 * (that would corrupt the inflate stream or the memory image); a gap in the sequence means a
 * block went missing and is refused. */
enum sequence_check { SEQUENCE_NEXT, SEQUENCE_REPEATED, SEQUENCE_GAP };
static enum sequence_check check_sequence(const uint8_t *data) {
    uint32_t sequence = get32(data + 4);
    if (sequence == stub.next_sequence) return SEQUENCE_NEXT; /* the caller counts it if taken */
    return stub.next_sequence > 0 && sequence == stub.next_sequence - 1 ? SEQUENCE_REPEATED
                                                                        : SEQUENCE_GAP;
}

static uint16_t begin(uint8_t op, const uint8_t *data, uint32_t size) {
    if (size != 16 && size != 20) return RESPONSE_BAD_DATA_LENGTH;
    uint32_t total = get32(data), block_size = get32(data + 8), offset = get32(data + 12);
    if (block_size > STUB_BLOCK_SIZE) return RESPONSE_BAD_BLOCK_SIZE;
    if (size == 20 && get32(data + 16) != 0) return RESPONSE_NOT_IMPLEMENTED; /* encrypted writes */
    stub.next_sequence = 0;
    stub.session_error = RESPONSE_OK;
    if (op == OP_MEM_BEGIN) {
        stub.kind = SESSION_MEMORY;
        stub.memory_address = offset;
        stub.memory_remaining = total;
        return RESPONSE_OK;
    }
    flash_writer_begin(offset, total);
    stub.kind = op == OP_FLASH_BEGIN ? SESSION_FLASH : SESSION_DEFLATE;
    if (stub.kind == SESSION_DEFLATE) {
        inflate_init(&stub.inflater, stub.window);
        stub.inflater.output_slice = INFLATE_SLICE;
    }
    return RESPONSE_OK;
}

/* Inflates a block into flash, keeping the UART drained between slices of input and of output
 * (INFLATE_SLICE bytes each way): at the ROM's 40 MHz a slice takes well under the 1.4 ms in which
 * 128 bytes (a full RX FIFO) arrive at 921600 baud; with 1 KB of input and a whole 32 KB window of
 * output between drains, the timed esp-vchip lost bytes. */
static uint16_t inflate_to_flash(const uint8_t *input, uint32_t length) {
    const uint32_t slice = INFLATE_SLICE;
    while (length > 0) {
        size_t in_length = length < slice ? length : slice;
        const uint8_t *in = input;
        input += in_length;
        length -= (uint32_t)in_length;
        for (;;) {
            inflate_status status = inflate_run(&stub.inflater, &in, &in_length);
            if (status < 0) return RESPONSE_INFLATE_ERROR;
            const uint8_t *out;
            size_t out_length;
            inflate_take_output(&stub.inflater, &out, &out_length);
            if (out_length > flash_writer_remaining()) return RESPONSE_TOO_MUCH_DATA;
            if (out_length && !flash_writer_write(out, (uint32_t)out_length))
                return RESPONSE_SPI_FAILED;
            stub_service_uart();
            if (status == INFLATE_NEED_INPUT || status == INFLATE_DONE) break;
        }
    }
    return RESPONSE_OK;
}

/* The MD5 of [address, address + length) as the flash holds it, read a piece at a time with the
 * UART kept drained. */
static void flash_md5(uint32_t address, uint32_t length, uint8_t digest[16]) {
    struct md5_context md5;
    md5_init(&md5);
    while (length > 0) {
        uint32_t n = length < 1024 ? length : 1024;
        flash_md5_update(&md5, address, n);
        stub_service_uart();
        address += n;
        length -= n;
    }
    md5_final(&md5, digest);
}

static void spi_flash_md5(const uint8_t *data, uint32_t size) {
    if (size != 16) return respond(OP_SPI_FLASH_MD5, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
    uint32_t address = get32(data), length = get32(data + 4);
    uint8_t digest[16];
    if (!flash_writer_digest(address, length, digest)) flash_md5(address, length, digest);
    respond(OP_SPI_FLASH_MD5, 0, digest, 16, RESPONSE_OK);
}

/* SPI_FLASH_SECTOR_DIGESTS (address, length, sector size, 0): the MD5 of each sector-sized piece
 * of [address, address + length), the last one shorter where length ends inside a sector, sent in
 * one reply as each is computed (no buffer for them all). */
static void sector_digests(const uint8_t *data, uint32_t size) {
    const uint8_t op = OP_SPI_FLASH_SECTOR_DIGESTS;
    if (size != 16) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
    uint32_t address = get32(data), length = get32(data + 4), sector = get32(data + 8);
    if (sector < 0x1000 || sector > 0x10000 || (sector & (sector - 1)) || length == 0)
        return respond(op, 0, 0, 0, RESPONSE_BAD_BLOCK_SIZE);
    uint32_t count = length / sector + (length % sector != 0);
    if (count > STUB_MAX_SECTOR_DIGESTS || address + length < address)
        return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
    uint8_t header[8] = {0x01, op, (uint8_t)(count * 16 + 2), (uint8_t)((count * 16 + 2) >> 8)};
    put32(header + 4, 0);
    send_raw(SLIP_END);
    send_escaped(header, 8);
    while (length > 0) {
        uint32_t piece = length < sector ? length : sector;
        uint8_t digest[16];
        flash_md5(address, piece, digest);
        send_escaped(digest, 16);
        address += piece;
        length -= piece;
    }
    static const uint8_t status[2] = {RESPONSE_OK >> 8, RESPONSE_OK & 0xFF};
    send_escaped(status, 2);
    send_raw(SLIP_END);
    hal_uart_flush();
}

/* READ_FLASH: raw data frames, each acknowledged by the host with the total it has received;
 * at most `in_flight` unacknowledged, then the MD5 of everything sent. */
static void read_flash(const uint8_t *data, uint32_t size) {
    if (size != 16) return respond(OP_READ_FLASH, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
    uint32_t address = get32(data), length = get32(data + 4), packet = get32(data + 8),
             in_flight = get32(data + 12);
    static uint8_t buffer[0x1000] __attribute__((aligned(4)));
    if (packet == 0 || packet > sizeof buffer)
        return respond(OP_READ_FLASH, 0, 0, 0, RESPONSE_BAD_BLOCK_SIZE);
    if (in_flight == 0) in_flight = 1;
    rx.taking_acks = true;
    rx.ack_arrived = false;
    respond(OP_READ_FLASH, 0, 0, 0, RESPONSE_OK);
    struct md5_context md5;
    md5_init(&md5);
    uint32_t sent = 0, acknowledged = 0;
    while (acknowledged < length) {
        if (sent < length && (sent - acknowledged) / packet < in_flight) {
            uint32_t n = length - sent < packet ? length - sent : packet;
            flash_read(address + sent, buffer, n);
            md5_update(&md5, buffer, n);
            send_frame(buffer, n);
            sent += n;
            continue;
        }
        stub_service_uart();
        if (rx.ack_arrived) {
            rx.ack_arrived = false;
            acknowledged = rx.ack;
        }
    }
    rx.taking_acks = false;
    uint8_t digest[16];
    md5_final(&md5, digest);
    send_frame(digest, 16);
}

static void handle(const uint8_t *frame, uint32_t frame_length, bool too_long) {
    if (frame_length < 8) return;
    const uint8_t op = frame[1];
    const uint32_t size = (uint32_t)frame[2] | (uint32_t)frame[3] << 8;
    const uint32_t header_checksum = get32(frame + 4);
    const uint8_t *data = frame + 8;
    if (frame[0] != 0x00) return respond(op, 0, 0, 0, RESPONSE_INVALID_COMMAND);
    if (too_long || size != frame_length - 8) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
    /* Answers to *_DATA carry the block's sequence number in the value field (the ROM leaves it
     * 0): a host that resent a block after a late answer can tell that answer from the next. */
    const bool data_block = op == OP_MEM_DATA || op == OP_FLASH_DATA || op == OP_FLASH_DEFL_DATA;
    const uint32_t value = data_block && size >= 8 ? get32(data + 4) : 0;
    if (stub.pending_error) {
        uint16_t error = stub.pending_error;
        stub.pending_error = RESPONSE_OK;
        return respond(op, value, 0, 0, error);
    }
    switch (op) { /* commands that may change the flash outdate the last write's digest */
    case OP_SYNC:
    case OP_READ_REG:
    case OP_SPI_SET_PARAMS:
    case OP_CHANGE_BAUDRATE:
    case OP_FLASH_DATA:
    case OP_FLASH_DEFL_DATA:
    case OP_FLASH_END:
    case OP_FLASH_DEFL_END:
    case OP_SPI_FLASH_MD5:
    case OP_SPI_FLASH_SECTOR_DIGESTS:
    case OP_READ_FLASH:
        break;
    default:
        flash_writer_forget();
    }
    switch (op) {
    case OP_SYNC:
        if (size != 36) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        for (int i = 0; i < 8; ++i) respond(op, 0, 0, 0, RESPONSE_OK);
        return;
    case OP_READ_REG:
        if (size != 4) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        return respond(op, hal_read_register(get32(data)), 0, 0, RESPONSE_OK);
    case OP_WRITE_REG:
        if (size == 0 || size % 16) return respond(op, 0, 0, 0, RESPONSE_NOT_ENOUGH_DATA);
        for (uint32_t i = 0; i < size; i += 16) {
            uint32_t address = get32(data + i), value = get32(data + i + 4),
                     mask = get32(data + i + 8), delay = get32(data + i + 12);
            if (delay) hal_delay_us(delay);
            hal_write_register(address, (value & mask) | (hal_read_register(address) & ~mask));
        }
        return respond(op, 0, 0, 0, RESPONSE_OK);
    case OP_SPI_ATTACH:
        if (size != 4 && size != 8) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        hal_spi_attach(get32(data));
        return respond(op, 0, 0, 0, RESPONSE_OK);
    case OP_SPI_SET_PARAMS:
        if (size != 24) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        stub.flash_size = get32(data + 4);
        return respond(op, 0, 0, 0, RESPONSE_OK);
    case OP_CHANGE_BAUDRATE:
        if (size != 8) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        respond(op, 0, 0, 0, RESPONSE_OK); /* at the old rate, before switching */
        while (!hal_uart_tx_idle()) stub_service_uart();
        hal_uart_change_baud(get32(data), get32(data + 4));
        return;
    case OP_MEM_BEGIN:
    case OP_FLASH_BEGIN:
    case OP_FLASH_DEFL_BEGIN:
        return respond(op, 0, 0, 0, begin(op, data, size));
    case OP_MEM_DATA: {
        uint16_t error = check_data(data, size, header_checksum);
        if (!error && stub.kind != SESSION_MEMORY) error = RESPONSE_NOT_IN_FLASH_MODE;
        if (error) return respond(op, value, 0, 0, error);
        enum sequence_check sequence = check_sequence(data);
        if (sequence == SEQUENCE_REPEATED) return respond(op, value, 0, 0, RESPONSE_OK);
        if (sequence == SEQUENCE_GAP) return respond(op, value, 0, 0, RESPONSE_NOT_ENOUGH_DATA);
        if (size - 16 > stub.memory_remaining)
            return respond(op, value, 0, 0, RESPONSE_TOO_MUCH_DATA);
        ++stub.next_sequence;
        uint8_t *target = (uint8_t *)(uintptr_t)stub.memory_address;
        for (uint32_t i = 0; i < size - 16; ++i) target[i] = data[16 + i];
        stub.memory_address += size - 16;
        stub.memory_remaining -= size - 16;
        return respond(op, value, 0, 0, RESPONSE_OK);
    }
    case OP_MEM_END:
        if (size != 8) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        respond(op, 0, 0, 0, RESPONSE_OK);
        if (get32(data) == 0) {
            while (!hal_uart_tx_idle()) {
            }
            hal_jump(get32(data + 4));
        }
        return;
    case OP_FLASH_DATA:
    case OP_FLASH_DEFL_DATA: {
        uint16_t error = check_data(data, size, header_checksum);
        bool deflate = op == OP_FLASH_DEFL_DATA;
        if (!error && stub.kind != (deflate ? SESSION_DEFLATE : SESSION_FLASH))
            error = RESPONSE_NOT_IN_FLASH_MODE;
        if (error) return respond(op, value, 0, 0, error);
        enum sequence_check sequence = check_sequence(data);
        if (sequence == SEQUENCE_REPEATED) return respond(op, value, 0, 0, stub.session_error);
        if (sequence == SEQUENCE_GAP) return respond(op, value, 0, 0, RESPONSE_NOT_ENOUGH_DATA);
        ++stub.next_sequence;
        if (stub.session_error) return respond(op, value, 0, 0, stub.session_error);
        /* Answer first: the host sends the next block while this one is written. */
        respond(op, value, 0, 0, RESPONSE_OK);
        if (deflate)
            stub.pending_error = inflate_to_flash(data + 16, size - 16);
        else if (!flash_writer_write(data + 16, size - 16))
            stub.pending_error = RESPONSE_SPI_FAILED;
        stub.session_error = stub.pending_error;
        return;
    }
    case OP_FLASH_END:
    case OP_FLASH_DEFL_END:
        if (size != 4) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        if (stub.kind != SESSION_FLASH && stub.kind != SESSION_DEFLATE)
            return respond(op, 0, 0, 0, RESPONSE_NOT_IN_FLASH_MODE);
        stub.kind = SESSION_NONE;
        if (stub.session_error) return respond(op, 0, 0, 0, stub.session_error);
        /* The stub stays in control either way; the host resets the chip to run the code. */
        return respond(op, 0, 0, 0,
                       flash_writer_remaining() ? RESPONSE_BAD_DATA_LENGTH : RESPONSE_OK);
    case OP_SPI_FLASH_MD5:
        return spi_flash_md5(data, size);
    case OP_ERASE_FLASH:
        return respond(op, 0, 0, 0, flash_erase_chip() ? RESPONSE_OK : RESPONSE_SPI_FAILED);
    case OP_ERASE_REGION: {
        if (size != 8) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        uint32_t address = get32(data), length = get32(data + 4);
        if ((address | length) & 0xFFF) return respond(op, 0, 0, 0, RESPONSE_BAD_DATA_LENGTH);
        return respond(op, 0, 0, 0,
                       flash_erase_region(address, length) ? RESPONSE_OK : RESPONSE_SPI_FAILED);
    }
    case OP_READ_FLASH:
        return read_flash(data, size);
    case OP_SPI_FLASH_SECTOR_DIGESTS:
        return sector_digests(data, size);
    default:
        return respond(op, 0, 0, 0, RESPONSE_INVALID_COMMAND);
    }
}

void stub_greet(void) {
    static const uint8_t greeting[4] = {'O', 'H', 'A', 'I'};
    rx.state[0] = rx.state[1] = BUFFER_FREE;
    rx.filling = -1;
    rx.order = 0;
    rx.taking_acks = false;
    stub.kind = SESSION_NONE;
    stub.pending_error = RESPONSE_OK;
    send_frame(greeting, sizeof greeting);
}

bool stub_step(void) {
    stub_service_uart();
    int b = take_frame();
    if (b < 0) return false;
    handle(rx.data[b], rx.length[b], rx.too_long[b]);
    release_frame(b);
    return true;
}

void stub_main(void) {
    hal_init();
    stub_greet();
    for (;;) stub_step();
}
