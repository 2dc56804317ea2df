#!/usr/bin/env python3
"""An RFC 2217 server made from pyserial's PortManager (an implementation independent of ours),
in front of esp-vchip: data goes to the chip's raw TCP port, and the control lines and baud rate the
client sets are forwarded to esp-vchip's control port ("dtr 1", "rts 0", "baud N").

usage: rfc2217_bridge.py DATA_PORT CONTROL_PORT [boot] [--clients N]
Prints "listening on port N" and serves N clients (1) one after the other; with "boot" the chip is
first started from flash, so that only a reset the client makes brings it back into download mode.
"""
import socket
import sys
import threading

import serial.rfc2217


class ChipLink:
    """The serial-port object PortManager drives."""

    cts = dsr = ri = cd = False
    bytesize, parity, stopbits, rtscts, xonxoff, break_condition = 8, "N", 1, False, False, False

    def __init__(self, data_port, control_port):
        self.data = socket.create_connection(("127.0.0.1", data_port))
        self.control = socket.create_connection(("127.0.0.1", control_port))
        self._baud, self._dtr, self._rts = 115200, False, False

    def command(self, text):
        self.control.sendall(text.encode() + b"\n")
        self.control.recv(64)  # "ok"

    @property
    def baudrate(self):
        return self._baud

    @baudrate.setter
    def baudrate(self, value):
        self._baud = value
        self.command(f"baud {value}")

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, value):
        self._dtr = bool(value)
        self.command(f"dtr {int(self._dtr)}")

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, value):
        self._rts = bool(value)
        self.command(f"rts {int(self._rts)}")

    def reset_input_buffer(self):
        pass

    def reset_output_buffer(self):
        pass


def serve(link, client):
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    class Connection:  # PortManager writes through .write()
        write = client.sendall

    manager = serial.rfc2217.PortManager(link, Connection())

    def chip_to_client():
        while True:
            try:
                data = link.data.recv(4096)
            except OSError:
                break
            if not data:
                break
            client.sendall(b"".join(manager.escape(data)))

    threading.Thread(target=chip_to_client, daemon=True).start()
    try:
        while True:
            data = client.recv(4096)
            if not data:
                break
            out = b"".join(manager.filter(data))
            if out:
                link.data.sendall(out)
    except OSError:  # the client left while the server was answering it (a last line change)
        pass


def main():
    args = sys.argv[1:]
    clients = 1
    if "--clients" in args:
        at = args.index("--clients")
        clients = int(args[at + 1])
        del args[at : at + 2]
    data_port, control_port = int(args[0]), int(args[1])
    link = ChipLink(data_port, control_port)
    if args[2:] == ["boot"]:
        link.command("boot")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    print(f"listening on port {server.getsockname()[1]}", flush=True)
    for served in range(clients):
        if served > 0:  # a new session: a new connection to the chip, as a new port open would be
            link = ChipLink(data_port, control_port)
        client, _ = server.accept()
        serve(link, client)
        client.close()
        # shutdown, not just close: the chip-to-client thread still blocks in recv on the data
        # socket, and a plain close would leave the chip's side open.
        for connection in (link.data, link.control):
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()


if __name__ == "__main__":
    main()
