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
            ssize_t sent = ::write(fd_, bytes.data() + done, bytes.size() - done);
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
    bool hasControlLines() const override { return true; }

private:
    void setLine(int line, bool asserted) { ::ioctl(fd_, asserted ? TIOCMBIS : TIOCMBIC, &line); }
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
    VchipPort(std::unique_ptr<vchip::VirtualChip> chip, std::string name)
        : chip_(std::move(chip)), name_(std::move(name)) {}
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
    const std::string &name() const override { return name_; }

private:
    std::unique_ptr<vchip::VirtualChip> chip_;
    std::string name_;
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
        return std::unique_ptr<Port>(new VchipPort(std::move(*chip), name));
    }
    if (text.consume_front("socket://")) {
        auto [host, port] = text.rsplit(':');
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
        return std::unique_ptr<Port>(new TcpPort(fd, name));
    }
    if (text.startswith("rfc2217://"))
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            "%s: rfc2217:// ports are not supported yet; use socket:// with --before no-reset",
            name.c_str());
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
