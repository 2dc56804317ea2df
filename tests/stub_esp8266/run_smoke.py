#!/usr/bin/env python3
"""Smoke test of the ESP8266 stub under QEMU's lx106 core (see fake_rom.c for the test image).

Feeds the stub, as a host would, the request frames of a short session: SYNC, SPI_SET_PARAMS, a
compressed write of a few KB (FLASH_DEFL_BEGIN/DATA), READ_REG of the chip magic, SPI_FLASH_MD5 of
the data and of the sectors it touched, FLASH_DEFL_END; then compares every byte the stub sent back
(starting with the OHAI greeting) and the flash it left with what they must be. zlib and hashlib
here are independent of the stub's own inflate and MD5.

    run_smoke.py IMAGE.elf

Exit status 77 (skipped) when the image was not built (no xtensa-lx106-elf-gcc) or QEMU is missing.
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIPPED = 77
FLASH_SIZE = 0x20000  # fake_rom.c FLASH_SIZE
SIM_EXIT_REGISTER = 0x6FFFFFFC  # fake_rom.c: READ_REG of it ends the run
CHIP_DETECT_MAGIC_REG = 0x40001000
ESP8266_MAGIC = 0xFFF0C101
WRITE_OFFSET = 0x1000
BLOCK_SIZE = 0x400  # small blocks, so the stub sees several FLASH_DEFL_DATA frames


def slip(payload):
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def request(op, data=b"", checksum=0):
    return slip(struct.pack("<BBHI", 0, op, len(data), checksum) + data)


def response(op, value=0, data=b"", status=0):
    header = struct.pack("<BBHI", 1, op, len(data) + 2, value)
    return slip(header + data + struct.pack(">H", status))


def xor_checksum(data):
    value = 0xEF
    for byte in data:
        value ^= byte
    return value


def split_frames(stream):
    """Decoded SLIP frames, for a readable report when the output differs."""
    frames, current, inside, escape = [], bytearray(), False, False
    for byte in stream:
        if byte == 0xC0:
            if inside and current:
                frames.append(bytes(current))
                current = bytearray()
            inside = True
        elif escape:
            current.append({0xDC: 0xC0, 0xDD: 0xDB}.get(byte, byte))
            escape = False
        elif byte == 0xDB:
            escape = True
        else:
            current.append(byte)
    if current:
        frames.append(bytes(current) + b" (unterminated)")
    return frames


DATA_SIZE = 12000  # three sectors, the last one partly


def test_data():
    """DATA_SIZE bytes that compress to about half (several blocks), with SLIP's special bytes."""
    state, out = 12345, bytearray()
    words = [b"flash ", b"stub ", b"ESP8266 ", b"lx106 ", b"inflate ", b"\x00\xff\xc0\xdb "]
    while len(out) < DATA_SIZE:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        if state & 0x100:
            out += words[(state >> 12) % len(words)]
        else:
            out += bytes([(state >> 16) & 0xFF, (state >> 8) & 0xFF])
    return bytes(out[:DATA_SIZE])


def initial_flash():
    flash = bytearray(b"\xff" * FLASH_SIZE)
    flash[0x0000:0x1000] = bytes(range(256)) * 16  # before the write: must survive
    # 0x1000 stays erased: the stub may skip erasing it. 0x2000 and 0x3000 are not: the stub must
    # erase them, or programming over them leaves zeros and its read-back check fails.
    flash[0x2000:0x4000] = b"\x00" * 0x2000
    flash[0x4000:0x5000] = b"\xa5" * 0x1000  # after the write: must survive
    return flash


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    image = sys.argv[1]
    if not image or not os.path.exists(image):
        print("SKIPPED: the ESP8266 test image was not built (xtensa-lx106-elf-gcc not found)")
        return SKIPPED
    qemu = shutil.which("qemu-system-xtensa")
    if not qemu:
        print("SKIPPED: qemu-system-xtensa not found (Debian package qemu-system-misc)")
        return SKIPPED

    data = test_data()
    compressed = zlib.compress(data, 9)
    blocks = [compressed[i:i + BLOCK_SIZE] for i in range(0, len(compressed), BLOCK_SIZE)]
    flash = initial_flash()
    expected_flash = bytearray(flash)
    expected_flash[0x2000:0x4000] = b"\xff" * 0x2000
    expected_flash[WRITE_OFFSET:WRITE_OFFSET + len(data)] = data
    touched = bytes(expected_flash[0x1000:0x4000])  # with the erased rest of the last sector

    requests, expected = [], [slip(b"OHAI")]

    def exchange(op, data=b"", checksum=0, reply=None):
        requests.append(request(op, data, checksum))
        expected.append(reply if reply is not None else response(op))

    exchange(0x08, b"\x07\x07\x12\x20" + b"\x55" * 32, reply=response(0x08) * 8)  # SYNC
    # SPI_SET_PARAMS: id, size, block, sector, page, status mask
    exchange(0x0B, struct.pack("<6I", 0, 0x400000, 0x10000, 0x1000, 0x100, 0xFFFF))
    exchange(0x10, struct.pack("<4I", len(data), len(blocks), BLOCK_SIZE, WRITE_OFFSET))
    for sequence, block in enumerate(blocks):
        # The answer to a data block carries its sequence number.
        exchange(0x11, struct.pack("<4I", len(block), sequence, 0, 0) + block, xor_checksum(block),
                 reply=response(0x11, value=sequence))
    # As esptool does after the last block: the answer comes once the stub has written it all.
    exchange(0x0A, struct.pack("<I", CHIP_DETECT_MAGIC_REG),
             reply=response(0x0A, value=ESP8266_MAGIC))
    exchange(0x13, struct.pack("<4I", WRITE_OFFSET, len(data), 0, 0),
             reply=response(0x13, data=hashlib.md5(data).digest()))
    exchange(0x13, struct.pack("<4I", 0x1000, 0x3000, 0, 0),
             reply=response(0x13, data=hashlib.md5(touched).digest()))
    exchange(0x12, struct.pack("<I", 1))  # FLASH_DEFL_END, stay in the stub
    requests.append(request(0x0A, struct.pack("<I", SIM_EXIT_REGISTER)))  # ends the run
    expected = b"".join(expected)

    with tempfile.TemporaryDirectory(prefix="stub_esp8266_") as work:
        def path(name):
            return os.path.join(work, name)
        with open(path("flash-initial.bin"), "wb") as f:
            f.write(flash)
        with open(path("uart-rx.bin"), "wb") as f:
            f.write(b"".join(requests))
        for name in ("uart-tx.bin", "flash.bin"):  # opened write-only by the fake ROM
            open(path(name), "wb").close()
        command = [qemu, "-M", "sim", "-cpu", "lx106", "-semihosting", "-nographic",
                   "-monitor", "none", "-kernel", os.path.abspath(image)]
        started = time.monotonic()
        try:
            run = subprocess.run(command, cwd=work, stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=25)
        except subprocess.TimeoutExpired as timeout:
            print("FAILED: QEMU did not finish in 25 s; its output:")
            print((timeout.stderr or b"").decode(errors="replace"))
            return 1
        seconds = time.monotonic() - started
        sys.stdout.write(run.stderr.decode(errors="replace"))
        with open(path("uart-tx.bin"), "rb") as f:
            sent = f.read()
        with open(path("flash.bin"), "rb") as f:
            final_flash = f.read()

    failures = []
    if run.returncode != 0:
        failures.append(f"QEMU exited with {run.returncode} (fake_rom.c: 3 = model rule broken, "
                        "4 = the stub returned, 5 = CPU exception)")
    if sent != expected:
        got, want = split_frames(sent), split_frames(expected)
        failures.append(f"the stub sent {len(sent)} bytes in {len(got)} frames, "
                        f"expected {len(expected)} bytes in {len(want)} frames")
        for i in range(max(len(got), len(want))):
            g = got[i].hex() if i < len(got) else "(none)"
            w = want[i].hex() if i < len(want) else "(none)"
            if g != w:
                failures.append(f"  frame {i}: got  {g[:120]}\n  frame {i}: want {w[:120]}")
    if run.returncode == 0 and final_flash != bytes(expected_flash):
        first = next((i for i in range(min(len(final_flash), FLASH_SIZE))
                      if final_flash[i] != expected_flash[i]), min(len(final_flash), FLASH_SIZE))
        failures.append(f"the flash differs from what was written (first at 0x{first:x})")
    if failures:
        print("FAILED:\n" + "\n".join(failures))
        return 1
    print(f"ESP8266 stub under QEMU lx106: OHAI, SYNC, {len(data)} bytes written from "
          f"{len(compressed)} compressed in {len(blocks)} FLASH_DEFL_DATA blocks, MD5 verified "
          f"({seconds:.2f} s in QEMU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
