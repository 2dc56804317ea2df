// A Web Serial SerialPort look-alike backed by a TCP socket, so esptool-js's Transport can drive a
// raw-TCP serial server (esp-vchip --listen) from Node.js. It provides exactly what Transport in
// esptool-js 0.7.0 (lib/webserial.js) touches: open(), close(), readable, writable, setSignals(),
// getInfo().
import net from "node:net";

export class TcpSerialPort {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.socket = null;
    this.readable = null;
    this.writable = null;
  }

  // Transport reopens the port after a baud change or a failed detection; each open is a fresh
  // connection. Serial settings mean nothing on a byte pipe.
  async open(_options) {
    const socket = net.createConnection({ host: this.host, port: this.port });
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.setNoDelay(true);
    this.socket = socket;

    let ended = false;
    const finish = (controller, error) => {
      if (ended) return;
      ended = true;
      if (error) controller.error(error);
      else controller.close();
    };
    this.readable = new ReadableStream({
      start(controller) {
        socket.on("data", (chunk) => {
          if (!ended) controller.enqueue(new Uint8Array(chunk));
        });
        socket.on("end", () => finish(controller));
        socket.on("close", () => finish(controller));
        socket.on("error", (error) => finish(controller, error));
      },
      // Transport.disconnect() cancels the pending read before close(); the socket stays until then.
      cancel() {
        ended = true;
      },
    });
    this.writable = new WritableStream({
      write(chunk) {
        return new Promise((resolve, reject) => socket.write(chunk, (error) => (error ? reject(error) : resolve())));
      },
    });
  }

  async close() {
    const socket = this.socket;
    this.socket = null;
    // Web Serial reports null streams on a closed port; Transport.readLoop() stops on that.
    this.readable = null;
    this.writable = null;
    if (socket && !socket.destroyed) {
      await new Promise((resolve) => {
        socket.once("close", resolve);
        socket.end(() => socket.destroy());
      });
    }
  }

  // No DTR/RTS on a TCP pipe; the virtual chip already waits in download mode.
  async setSignals(_signals) {}

  // No USB ids: esptool-js then treats the port as a plain USB-UART bridge.
  getInfo() {
    return {};
  }
}
