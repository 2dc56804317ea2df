#include "esptools/loader/port.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace esptools::loader {
namespace {

std::string readAttribute(const std::string &directory, const char *name) {
    auto contents = llvm::MemoryBuffer::getFile(directory + "/" + name);
    if (!contents) return "";
    return (*contents)->getBuffer().trim().str();
}

// A tty's `device` link points at the USB interface (or below it); the USB device that carries
// idVendor/idProduct is one of its ancestors.
std::optional<std::string> usbDeviceDirectory(const std::string &tty_directory) {
    llvm::SmallString<256> real;
    if (llvm::sys::fs::real_path(tty_directory + "/device", real)) return std::nullopt;
    std::string directory = real.str().str();
    for (int depth = 0; depth < 4 && !directory.empty(); ++depth) {
        if (llvm::sys::fs::exists(directory + "/idVendor")) return directory;
        directory = llvm::sys::path::parent_path(directory).str();
    }
    return std::nullopt;
}

} // namespace

std::vector<SerialPortInfo> listUsbSerialPorts(const std::string &sysfs_tty,
                                               const std::string &dev) {
    std::vector<SerialPortInfo> ports;
    std::error_code error;
    for (llvm::sys::fs::directory_iterator entry(sysfs_tty, error), end; entry != end && !error;
         entry.increment(error)) {
        std::string name = llvm::sys::path::filename(entry->path()).str();
        auto usb_directory = usbDeviceDirectory(entry->path());
        if (!usb_directory) continue;
        unsigned vid = 0, pid = 0;
        if (llvm::StringRef(readAttribute(*usb_directory, "idVendor")).getAsInteger(16, vid) ||
            llvm::StringRef(readAttribute(*usb_directory, "idProduct")).getAsInteger(16, pid))
            continue;
        ports.push_back({dev + "/" + name, UsbId{uint16_t(vid), uint16_t(pid)},
                         readAttribute(*usb_directory, "product"),
                         readAttribute(*usb_directory, "serial")});
    }
    auto rank = [](const SerialPortInfo &port) {
        bool espressif = port.usb && port.usb->espressif();
        bool usb_uart = port.device.find("ttyUSB") != std::string::npos;
        return std::make_tuple(espressif ? 0 : 1, usb_uart ? 0 : 1, port.device);
    };
    std::sort(ports.begin(), ports.end(),
              [&](const auto &a, const auto &b) { return rank(a) < rank(b); });
    return ports;
}

std::vector<SerialPortInfo> listSystemSerialPorts() {
    const char *sysfs = std::getenv("SYSFS_PATH");
    const char *dev = std::getenv("ESPTOOLS_DEV_PATH");
    return listUsbSerialPorts(std::string(sysfs && *sysfs ? sysfs : "/sys") + "/class/tty",
                              dev && *dev ? dev : "/dev");
}

llvm::Expected<std::vector<SerialPortInfo>> filterPorts(std::vector<SerialPortInfo> ports,
                                                        const std::vector<std::string> &filters) {
    std::map<std::string, std::vector<std::string>> wanted;
    for (const std::string &filter : filters) {
        auto [key, value] = llvm::StringRef(filter).split('=');
        if (value.empty() && !llvm::StringRef(filter).contains('='))
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "Option --port-filter argument must consist of key=value. "
                "('%s')",
                filter.c_str());
        if (key != "vid" && key != "pid" && key != "name" && key != "serial")
            return llvm::createStringError(
                llvm::inconvertibleErrorCode(),
                "Option --port-filter argument key not recognized. ('%s'; the keys are "
                "vid, pid, name, serial)",
                key.str().c_str());
        if (key == "vid" || key == "pid") {
            unsigned long long number = 0;
            if (value.getAsInteger(0, number) || number > 0xFFFF)
                return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                               "Invalid integer for port filter '%s': '%s'.",
                                               key.str().c_str(), value.str().c_str());
        }
        wanted[key.str()].push_back(value.str());
    }
    auto matches = [&](const SerialPortInfo &port) {
        for (const auto &[key, values] : wanted) {
            bool any = false;
            for (const std::string &value : values) {
                unsigned long long number = 0;
                llvm::StringRef(value).getAsInteger(0, number);
                if (key == "vid") any |= port.usb && port.usb->vid == number;
                if (key == "pid") any |= port.usb && port.usb->pid == number;
                if (key == "name")
                    any |= llvm::StringRef(port.device).contains_insensitive(value) ||
                           llvm::StringRef(port.product).contains_insensitive(value);
                if (key == "serial")
                    any |= llvm::StringRef(port.serial_number).contains_insensitive(value);
            }
            if (!any) return false;
        }
        return true;
    };
    std::erase_if(ports, [&](const SerialPortInfo &port) { return !matches(port); });
    return ports;
}

} // namespace esptools::loader
