// esp-vchip: a virtual Espressif chip in ROM download mode, reachable by any serial tool.
//   esp-vchip --chip esp32c3 --listen 127.0.0.1:5555   (raw TCP: esptool's socket://)
//   esp-vchip --chip esp32c3 --pty                     (prints the pseudo-terminal's path)
// Reset convention: a pty and a raw TCP socket carry no DTR/RTS, so the chip starts in download
// mode and every new TCP connection resets it into download mode again (clients use
// --before no-reset), unless --keep-running asks it to stay as the last client left it. With
// --control-port, lines "download", "boot" and "power-cycle" sent to that port reset the chip into
// download mode, boot it from flash, or power-cycle it; "dtr 0|1" and "rts 0|1" drive its control
// lines as a dev board's auto-reset circuit sees them (a bridge such as an RFC 2217 server forwards
// line changes this way), and "baud N" sets the host-side rate.
#include "esptools/vchip/vchip.h"

#include <boost/program_options.hpp>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/raw_ostream.h>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace po = boost::program_options;
using namespace esptools;

namespace {

volatile std::sig_atomic_t stop_requested = 0;

int fail(const std::string &message) {
    llvm::errs() << "esp-vchip: error: " << message << "\n";
    return 2;
}

// Opens a listening TCP socket; only loopback addresses unless remote access is allowed.
int listenOn(const std::string &endpoint, bool allow_remote, std::string &error) {
    auto colon = endpoint.rfind(':');
    std::string host = colon == std::string::npos ? "" : endpoint.substr(0, colon);
    if (host.empty()) host = "127.0.0.1"; // "5601" and ":5601" alike
    std::string port = colon == std::string::npos ? endpoint : endpoint.substr(colon + 1);
    unsigned port_number = 0;
    if (llvm::StringRef(port).getAsInteger(10, port_number) || port_number > 65535) {
        error = "--listen " + endpoint + ": '" + port + "' is not a TCP port (0 to 65535)";
        return -1;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_number));
    if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
        error = "'" + host + "' is not an IPv4 address";
        return -1;
    }
    if (!allow_remote && (ntohl(address.sin_addr.s_addr) >> 24) != 127) {
        error = host + " is not a loopback address (use --allow-remote to listen there)";
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
        listen(fd, 1) != 0) {
        error = "cannot listen on " + endpoint + ": " + std::strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

uint16_t boundPort(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length);
    return ntohs(address.sin_port);
}

// The control port's client outlives data connections: a bridge may open its next session's control
// connection while the chip is still seeing the last data connection out.
struct ControlLink {
    int client = -1;
    std::string line;
    ~ControlLink() {
        if (client >= 0) close(client);
    }
};

// Moves bytes between a file descriptor (socket or pty master) and the chip until it closes.
// reset_on_input: the first bytes from the client find the chip reset into download mode.
void serve(int fd, vchip::VirtualChip &chip, int control_fd, ControlLink &control, bool stop_on_eof,
           bool reset_on_input = false) {
    std::vector<uint8_t> buffer(4096);
    int &control_client = control.client;
    std::string &control_line = control.line;
    while (!stop_requested) {
        pollfd fds[3] = {{fd, POLLIN, 0}, {control_fd, POLLIN, 0}, {control_client, POLLIN, 0}};
        // Wakes when the chip has output due or code to resume, at most 5 ms on.
        auto wait = std::chrono::nanoseconds(std::chrono::milliseconds(5));
        if (auto next = chip.nextEvent())
            wait = std::clamp<std::chrono::nanoseconds>(*next - std::chrono::steady_clock::now(),
                                                        std::chrono::nanoseconds(0), wait);
        const timespec wait_spec{time_t(wait.count() / 1'000'000'000),
                                 long(wait.count() % 1'000'000'000)};
        ppoll(fds, 3, &wait_spec, nullptr);
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = ::read(fd, buffer.data(), buffer.size());
            if (got <= 0) {
                if (stop_on_eof) return;
            } else {
                if (std::exchange(reset_on_input, false)) chip.resetIntoDownloadMode();
                chip.write(std::span<const uint8_t>(buffer.data(), size_t(got)));
            }
        }
        if (control_fd >= 0 && (fds[1].revents & POLLIN)) {
            if (control_client >= 0) close(control_client);
            control_client = accept4(control_fd, nullptr, nullptr, SOCK_CLOEXEC);
        }
        if (control_client >= 0 && (fds[2].revents & (POLLIN | POLLHUP))) {
            char text[256];
            ssize_t got = ::read(control_client, text, sizeof text);
            if (got <= 0) {
                close(control_client);
                control_client = -1;
            } else {
                control_line.append(text, size_t(got));
                for (auto newline = control_line.find('\n'); newline != std::string::npos;
                     newline = control_line.find('\n')) {
                    std::string command = control_line.substr(0, newline);
                    control_line.erase(0, newline + 1);
                    while (!command.empty() && (command.back() == '\r' || command.back() == ' '))
                        command.pop_back();
                    bool known = true;
                    if (command == "download")
                        chip.resetIntoDownloadMode();
                    else if (command == "boot")
                        chip.resetAndBoot();
                    else if (command == "power-cycle")
                        chip.powerCycle();
                    else if (command == "dtr 1" || command == "dtr 0")
                        chip.setDtr(command.back() == '1');
                    else if (command == "rts 1" || command == "rts 0")
                        chip.setRts(command.back() == '1');
                    else if (command.rfind("baud ", 0) == 0 && std::atoi(command.c_str() + 5) > 0)
                        chip.setBaudRate(uint32_t(std::atoi(command.c_str() + 5)));
                    else
                        known = false;
                    std::string answer =
                        known ? "ok\n"
                              : "unknown command (download, boot, power-cycle, dtr 0|1, rts 0|1, "
                                "baud N)\n";
                    (void)!::write(control_client, answer.data(), answer.size());
                }
            }
        }
        size_t count = chip.read(buffer, std::chrono::milliseconds(0));
        if (count > 0 && ::write(fd, buffer.data(), count) < 0 && stop_on_eof) return;
        if (!chip.connected() && stop_on_eof) return;
    }
}

} // namespace

int main(int argc, char **argv) {
    po::options_description described("esp-vchip options");
    described.add_options()("help,h", "show this help")("chip", po::value<std::string>(),
                                                        "chip to model, e.g. esp32c3")(
        "flash-file", po::value<std::string>(),
        "file holding the flash contents (shared between processes)")(
        "flash-size", po::value<std::string>()->default_value("4MB"),
        "flash size")("mac", po::value<std::string>(), "MAC address aa:bb:cc:dd:ee:ff")(
        "revision", po::value<std::string>(), "chip revision, major*100+minor")(
        "timing", po::bool_switch(), "real-time UART and flash timing")(
        "console", po::value<std::string>(),
        "the port download mode talks on: uart (default), usb (USB-Serial-JTAG), otg (USB-OTG)")(
        "listen", po::value<std::string>(),
        "serve raw TCP on HOST:PORT (default host 127.0.0.1; port 0 picks one)")(
        "keep-running", po::bool_switch(),
        "a new TCP connection does not reset the chip: it stays as the last client left it")(
        "control-port", po::value<std::string>(),
        "TCP port for reset commands (download, boot, power-cycle)")(
        "allow-remote", po::bool_switch(), "allow a non-loopback --listen address")(
        "pty", po::bool_switch(), "serve a pseudo-terminal and print its path")(
        "fault", po::value<std::vector<std::string>>()->composing(),
        "fault injection, as in vchip: port options: drop=0.01, corrupt=0.01, seed=N, "
        "stall_ms=N with stall_after=BYTES, disconnect_after=N, fail_program_at=ADDR");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, described), vm);
        po::notify(vm);
    } catch (const po::error &error) {
        return fail(error.what());
    }
    if (vm.count("help") || !vm.count("chip")) {
        std::cout << "usage: esp-vchip --chip CHIP (--listen HOST:PORT | --pty) [options]\n"
                  << described;
        return vm.count("help") ? 0 : 2;
    }
    std::string spec = vm["chip"].as<std::string>() + "?size=" + vm["flash-size"].as<std::string>();
    if (vm.count("flash-file")) spec += "&flash=" + vm["flash-file"].as<std::string>();
    if (vm.count("mac")) spec += "&mac=" + vm["mac"].as<std::string>();
    if (vm.count("revision")) spec += "&rev=" + vm["revision"].as<std::string>();
    if (vm["timing"].as<bool>()) spec += "&timing=1";
    if (vm.count("console")) spec += "&console=" + vm["console"].as<std::string>();
    if (vm.count("fault"))
        for (const auto &fault : vm["fault"].as<std::vector<std::string>>()) spec += "&" + fault;
    auto options = vchip::parsePortSpec(spec);
    if (!options) return fail(llvm::toString(options.takeError()));
    auto chip = vchip::VirtualChip::create(*options);
    if (!chip) return fail(llvm::toString(chip.takeError()));

    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    std::signal(SIGPIPE, SIG_IGN);
    const bool allow_remote = vm["allow-remote"].as<bool>();
    int control_fd = -1;
    if (vm.count("control-port")) {
        std::string error;
        control_fd = listenOn(vm["control-port"].as<std::string>(), allow_remote, error);
        if (control_fd < 0) return fail(error);
        std::cout << "control on port " << boundPort(control_fd) << std::endl;
    }

    if (vm["pty"].as<bool>()) {
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
            return fail("cannot open a pseudo-terminal");
        termios raw{};
        tcgetattr(master, &raw);
        cfmakeraw(&raw);
        tcsetattr(master, TCSANOW, &raw);
        std::cout << ptsname(master) << std::endl;
        ControlLink control;
        serve(master, **chip, control_fd, control, false);
        return 0;
    }
    if (!vm.count("listen")) return fail("give --listen HOST:PORT or --pty");
    std::string error;
    int listener = listenOn(vm["listen"].as<std::string>(), allow_remote, error);
    if (listener < 0) return fail(error);
    std::cout << "listening on port " << boundPort(listener) << std::endl;
    ControlLink control;
    // Between connections the chip runs on, as a board does when no one has its port open: what
    // it prints (an app loaded into RAM, the ROM's banner after a watchdog reset) is kept for the
    // next client, up to 64 KB.
    constexpr size_t kHeldOutput = 64 * 1024;
    std::vector<uint8_t> held, chunk(4096);
    while (!stop_requested) {
        pollfd ready{listener, POLLIN, 0};
        int ready_count = poll(&ready, 1, 20);
        if (size_t count = (*chip)->read(chunk, std::chrono::milliseconds(0)); count > 0) {
            held.insert(held.end(), chunk.begin(), chunk.begin() + ptrdiff_t(count));
            if (held.size() > kHeldOutput)
                held.erase(held.begin(), held.end() - ptrdiff_t(kHeldOutput));
        }
        if (ready_count <= 0) continue;
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        // A reply goes out when the chip has written it, not when Nagle's algorithm lets it: the
        // wire a virtual board models has no such delay.
        int no_delay = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof no_delay);
        if (!held.empty() && ::write(client, held.data(), held.size()) > 0) held.clear();
        // A client that speaks finds the chip waiting for download (TCP carries no reset lines:
        // this stands in for the auto-reset a flasher would do), unless it is to stay as the last
        // client left it (a serial bridge without reset lines: an earlier run's stub still runs).
        // A client that only listens hears the chip as it runs.
        serve(client, **chip, control_fd, control, true, !vm["keep-running"].as<bool>());
        close(client);
    }
    return 0;
}
