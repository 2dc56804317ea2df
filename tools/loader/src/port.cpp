#include "esptools/loader/port.h"

#include "esptools/vchip/vchip.h"

#include <arpa/inet.h>
#include <asm/termbits.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace esptools::loader {
namespace {

llvm::Error osError(const std::string &port, const char *what) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s: %s", port.c_str(), what,
                                   std::strerror(errno));
}

// A file descriptor with poll-based reads: serial devices and sockets alike.
class DescriptorPort : public Port {
public:
    DescriptorPort(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
    ~DescriptorPort() override { ::close(fd_); }

    llvm::Error write(std::span<const uint8_t> bytes) override {
        size_t done = 0;
        while (done < bytes.size()) {
            pollfd ready{fd_, POLLOUT, 0};
            if (::poll(&ready, 1, 10'000) <= 0) return osError(name_, "write timed out");
            // send() with MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE.
            ssize_t sent = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (sent < 0 && errno == ENOTSOCK)
                sent = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (sent < 0 && errno != EAGAIN && errno != EINTR)
                return osError(name_, "write failed");
            if (sent > 0) done += size_t(sent);
        }
        return llvm::Error::success();
    }

    llvm::Expected<size_t> read(std::span<uint8_t> buffer,
                                std::chrono::milliseconds timeout) override {
        pollfd ready{fd_, POLLIN, 0};
        int status = ::poll(&ready, 1, static_cast<int>(timeout.count()));
        if (status < 0 && errno != EINTR) return osError(name_, "read failed");
        if (status <= 0) return 0;
        ssize_t got = ::read(fd_, buffer.data(), buffer.size());
        if (got == 0)
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "%s: the device closed the connection", name_.c_str());
        if (got < 0)
            return errno == EAGAIN || errno == EINTR ? llvm::Expected<size_t>(0)
                                                     : osError(name_, "read failed");
        return size_t(got);
    }

    const std::string &name() const override { return name_; }

protected:
    int fd_;
    std::string name_;
};

class SerialPort final : public DescriptorPort {
public:
    using DescriptorPort::DescriptorPort;
    llvm::Error setBaudRate(uint32_t baud) override {
        // termios2 with BOTHER takes any rate the driver accepts, not just the Bxxx constants.
        termios2 settings{};
        if (::ioctl(fd_, TCGETS2, &settings) != 0)
            return osError(name_, "cannot read the port settings");
        settings.c_cflag &= ~(CBAUD | CSIZE | PARENB | CSTOPB | CRTSCTS);
        settings.c_cflag |= BOTHER | CS8 | CREAD | CLOCAL;
        settings.c_iflag = 0;
        settings.c_oflag = 0;
        settings.c_lflag = 0;
        settings.c_cc[VMIN] = 0;
        settings.c_cc[VTIME] = 0;
        settings.c_ispeed = settings.c_ospeed = baud;
        if (::ioctl(fd_, TCSETS2, &settings) != 0)
            return osError(name_, "cannot set the baud rate");
        return llvm::Error::success();
    }
    void setDtr(bool asserted) override { setLine(TIOCM_DTR, asserted); }
    void setRts(bool asserted) override { setLine(TIOCM_RTS, asserted); }
    void setDtrRts(bool dtr, bool rts) override {
        int lines = 0;
        if (::ioctl(fd_, TIOCMGET, &lines) != 0) return;
        lines = (lines & ~(TIOCM_DTR | TIOCM_RTS)) | (dtr ? TIOCM_DTR : 0) | (rts ? TIOCM_RTS : 0);
        ::ioctl(fd_, TIOCMSET, &lines);
    }
    bool setsBothLinesAtOnce() const override { return true; }
    // A pseudo-terminal or a driver without modem lines refuses TIOCMGET (ENOTTY, EINVAL).
    bool hasControlLines() const override {
        int lines = 0;
        return ::ioctl(fd_, TIOCMGET, &lines) == 0;
    }
    bool refusesControlLines() const override { return !hasControlLines(); }
    std::optional<UsbId> usbId() const override {
        auto slash = name_.rfind('/');
        std::string device = slash == std::string::npos ? name_ : name_.substr(slash + 1);
        for (const auto &port : listSystemSerialPorts())
            if (port.device.substr(port.device.rfind('/') + 1) == device) return port.usb;
        return std::nullopt;
    }

private:
    void setLine(int line, bool asserted) { ::ioctl(fd_, asserted ? TIOCMBIS : TIOCMBIC, &line); }
};

// A serial port behind a Telnet server with the RFC 2217 COM-PORT-OPTION: data with 0xFF doubled,
// and baud rate and control lines set by subnegotiation.
class Rfc2217Port final : public DescriptorPort {
public:
    Rfc2217Port(int fd, std::string name) : DescriptorPort(fd, std::move(name)) {
        send({kIac, kWill, kBinary, kIac, kDo, kBinary, kIac, kWill, kSuppressGoAhead, kIac, kDo,
              kSuppressGoAhead, kIac, kWill, kComPortOption});
        // 8 data bits, no parity, one stop bit.
        subnegotiate(kSetDataSize, {8});
        subnegotiate(kSetParity, {1});
        subnegotiate(kSetStopSize, {1});
    }

    llvm::Error write(std::span<const uint8_t> bytes) override {
        std::vector<uint8_t> escaped;
        escaped.reserve(bytes.size() + 16);
        for (uint8_t byte : bytes) {
            escaped.push_back(byte);
            if (byte == kIac) escaped.push_back(kIac);
        }
        return DescriptorPort::write(escaped);
    }

    llvm::Expected<size_t> read(std::span<uint8_t> buffer,
                                std::chrono::milliseconds timeout) override {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (data_.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            uint8_t raw[4096];
            auto got = DescriptorPort::read(raw, std::max(left, std::chrono::milliseconds(0)));
            if (!got) return got.takeError();
            if (*got == 0) return 0;
            for (size_t i = 0; i < *got; ++i) receive(raw[i]);
            if (left.count() <= 0) break;
        }
        size_t count = std::min(buffer.size(), data_.size());
        std::copy_n(data_.begin(), count, buffer.begin());
        data_.erase(data_.begin(), data_.begin() + long(count));
        return count;
    }

    llvm::Error setBaudRate(uint32_t baud) override {
        subnegotiate(kSetBaudRate,
                     {uint8_t(baud >> 24), uint8_t(baud >> 16), uint8_t(baud >> 8), uint8_t(baud)});
        return llvm::Error::success();
    }
    void setDtr(bool asserted) override {
        subnegotiate(kSetControl, {asserted ? kDtrOn : kDtrOff});
    }
    void setRts(bool asserted) override {
        subnegotiate(kSetControl, {asserted ? kRtsOn : kRtsOff});
    }
    bool hasControlLines() const override { return true; }

private:
    static constexpr uint8_t kIac = 255, kDont = 254, kDo = 253, kWont = 252, kWill = 251,
                             kSb = 250, kSe = 240;
    static constexpr uint8_t kBinary = 0, kEcho = 1, kSuppressGoAhead = 3, kComPortOption = 44;
    static constexpr uint8_t kSetBaudRate = 1, kSetDataSize = 2, kSetParity = 3, kSetStopSize = 4,
                             kSetControl = 5;
    static constexpr uint8_t kDtrOn = 8, kDtrOff = 9, kRtsOn = 11, kRtsOff = 12;

    void send(std::vector<uint8_t> bytes) {
        if (auto error = DescriptorPort::write(bytes)) llvm::consumeError(std::move(error));
    }
    void subnegotiate(uint8_t command, std::vector<uint8_t> value) {
        std::vector<uint8_t> bytes = {kIac, kSb, kComPortOption, command};
        for (uint8_t byte : value) {
            bytes.push_back(byte);
            if (byte == kIac) bytes.push_back(kIac);
        }
        bytes.push_back(kIac);
        bytes.push_back(kSe);
        send(std::move(bytes));
    }

    // Telnet's receive state machine: data passes, option requests get one answer each,
    // subnegotiation replies (the server confirming settings) are dropped.
    void receive(uint8_t byte) {
        switch (state_) {
        case State::Data:
            if (byte == kIac)
                state_ = State::Command;
            else
                data_.push_back(byte);
            return;
        case State::Command:
            if (byte == kIac) {
                data_.push_back(kIac);
                state_ = State::Data;
            } else if (byte == kSb) {
                state_ = State::Subnegotiation;
            } else if (byte >= kWill && byte <= kDont) {
                verb_ = byte;
                state_ = State::Option;
            } else {
                state_ = State::Data;
            }
            return;
        case State::Option: {
            state_ = State::Data;
            bool wanted = byte == kBinary || byte == kSuppressGoAhead || byte == kComPortOption ||
                          (byte == kEcho && verb_ == kWill);
            uint8_t answer = 0;
            if (verb_ == kWill) answer = wanted ? kDo : kDont;
            if (verb_ == kDo) answer = wanted ? kWill : kWont;
            uint16_t key = uint16_t(verb_ << 8 | byte);
            if (answer && answered_.insert(key).second) send({kIac, answer, byte});
            return;
        }
        case State::Subnegotiation:
            if (byte == kIac) state_ = State::SubnegotiationIac;
            return;
        case State::SubnegotiationIac:
            state_ = byte == kSe ? State::Data : State::Subnegotiation;
            return;
        }
    }

    enum class State {
        Data,
        Command,
        Option,
        Subnegotiation,
        SubnegotiationIac
    } state_ = State::Data;
    uint8_t verb_ = 0;
    std::set<uint16_t> answered_;
    std::vector<uint8_t> data_;
};

class TcpPort final : public DescriptorPort {
public:
    using DescriptorPort::DescriptorPort;
    llvm::Error setBaudRate(uint32_t) override { return llvm::Error::success(); }
    void setDtr(bool) override {}
    void setRts(bool) override {}
    bool hasControlLines() const override { return false; }
};

class VchipPort final : public Port {
public:
    VchipPort(std::unique_ptr<vchip::VirtualChip> chip, std::string name,
              const vchip::Options &options)
        : chip_(std::move(chip)), name_(std::move(name)), timed_(options.timing),
          why_code_cannot_run_(vchip::whyCannotExecute(*options.chip)), console_(options.console),
          chip_id_(options.chip->image_chip_id.value_or(0)) {}
    llvm::Error write(std::span<const uint8_t> bytes) override {
        if (!chip_->connected())
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "%s: the device disconnected", name_.c_str());
        chip_->write(bytes);
        return llvm::Error::success();
    }
    llvm::Expected<size_t> read(std::span<uint8_t> buffer,
                                std::chrono::milliseconds timeout) override {
        if (!chip_->connected())
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "%s: the device disconnected", name_.c_str());
        return chip_->read(buffer, timeout);
    }
    llvm::Error setBaudRate(uint32_t baud) override {
        chip_->setBaudRate(baud);
        return llvm::Error::success();
    }
    void setDtr(bool asserted) override { chip_->setDtr(asserted); }
    void setRts(bool asserted) override { chip_->setRts(asserted); }
    bool hasControlLines() const override { return true; }
    // A chip whose console is its own USB peripheral shows up as Espressif's CDC-ACM device.
    std::optional<UsbId> usbId() const override {
        if (console_ == vchip::Console::UsbSerialJtag)
            return UsbId{UsbId::kEspressifVid, UsbId::kUsbSerialJtagPid};
        if (console_ == vchip::Console::UsbOtg) return UsbId{UsbId::kEspressifVid, chip_id_};
        return std::nullopt;
    }
    // With its timing model on, the chip lives in real time, reset pulses included.
    bool runsInRealTime() const override { return timed_; }
    std::string whyCodeCannotRun() const override { return why_code_cannot_run_; }
    const std::string &name() const override { return name_; }

private:
    std::unique_ptr<vchip::VirtualChip> chip_;
    std::string name_;
    bool timed_;
    std::string why_code_cannot_run_;
    vchip::Console console_;
    uint16_t chip_id_;
};

} // namespace

void Port::flushInput() {
    uint8_t buffer[256];
    for (int i = 0; i < 1000; ++i) {
        auto got = read(buffer, std::chrono::milliseconds(0));
        if (!got) {
            llvm::consumeError(got.takeError());
            return;
        }
        if (*got == 0) return;
    }
}

llvm::Expected<std::unique_ptr<Port>> openPort(const std::string &name, uint32_t baud) {
    llvm::StringRef text(name);
    if (text.consume_front("vchip:")) {
        auto options = vchip::parsePortSpec(text.str());
        if (!options) return options.takeError();
        auto chip = vchip::VirtualChip::create(*options);
        if (!chip) return chip.takeError();
        return std::unique_ptr<Port>(new VchipPort(std::move(*chip), name, *options));
    }
    bool rfc2217 = text.startswith("rfc2217://");
    if (text.consume_front("socket://") || text.consume_front("rfc2217://")) {
        auto [host, port] = text.split('?').first.rsplit(':');
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo *found = nullptr;
        if (getaddrinfo(host.str().c_str(), port.str().c_str(), &hints, &found) != 0 || !found)
            return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                           "%s: cannot resolve '%s'", name.c_str(),
                                           host.str().c_str());
        int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
        int status = fd < 0 ? -1 : ::connect(fd, found->ai_addr, found->ai_addrlen);
        freeaddrinfo(found);
        if (status != 0) {
            auto error = osError(name, "cannot connect");
            if (fd >= 0) ::close(fd);
            return error;
        }
        if (!rfc2217) return std::unique_ptr<Port>(new TcpPort(fd, name));
        auto telnet = std::make_unique<Rfc2217Port>(fd, name);
        if (auto error = telnet->setBaudRate(baud)) return error;
        return std::unique_ptr<Port>(std::move(telnet));
    }
    int fd = ::open(name.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "Could not open %s, the port is busy or doesn't exist (%s).",
                                       name.c_str(), std::strerror(errno));
    auto port = std::make_unique<SerialPort>(fd, name);
    if (auto error = port->setBaudRate(baud)) return error;
    return std::unique_ptr<Port>(std::move(port));
}

} // namespace esptools::loader
