// write-flash: the files read and checked before anything is written, patched and compressed,
// sent in blocks, fast reflash of changed sectors, and the MD5 check.
#include "command_support.h"

#include <libdeflate.h>

#include <chrono>
#include <thread>

namespace esptools::loader {

using namespace support;

namespace {

// An image is written only to the chip and revisions it was built for, as esptool checks them:
// data that does not parse as an image of this chip's format is not an image and is written as
// it is.
llvm::Error checkImageSuitsChip(Device &device, const FlashFile &file) {
    const auto &chip = *device.chip();
    if (chip.image_format != chipdb::ImageFormat::Esp32 || file.data.empty() ||
        file.data[0] != formats::kImageMagic)
        return llvm::Error::success();
    auto image = formats::parseImage(file.data, chip, file.name);
    if (!image) {
        llvm::consumeError(image.takeError());
        return llvm::Error::success();
    }
    const std::string display(chip.display_name);
    if (chip.image_chip_id && image->extended.chip_id != *chip.image_chip_id) {
        for (const auto &warning : image->warnings) llvm::outs() << "WARNING: " << warning << "\n";
        return error("'" + file.name + "' is not an " + display +
                     " image. Use the force argument to flash anyway.");
    }
    const auto &header = image->extended;
    bool full_fields = header.max_rev_full != 0;
    if (header.max_rev_full == 0xFFFF && header.min_rev_full == 0 && header.min_rev != 0)
        full_fields = false; // only the legacy field is set
    auto revision = chipRevision(device);
    if (!revision) return revision.takeError();
    auto version = [](uint32_t rev) {
        return "v" + std::to_string(rev / 100) + "." + std::to_string(rev % 100);
    };
    if (full_fields) {
        if (*revision < header.min_rev_full || *revision > header.max_rev_full)
            return error("'" + file.name + "' requires chip revision in range [" +
                         version(header.min_rev_full) + " - " +
                         (header.max_rev_full == 0xFFFF ? std::string("max rev not set")
                                                        : version(header.max_rev_full)) +
                         "] (this chip is revision " + version(*revision) +
                         "). Use the force argument to flash anyway.");
        return llvm::Error::success();
    }
    const uint32_t legacy = chip.image_min_rev_is_minor ? *revision % 100 : *revision / 100;
    if (legacy < header.min_rev)
        return error("'" + file.name + "' requires chip revision " +
                     std::to_string(header.min_rev) + " or higher (this chip is revision " +
                     std::to_string(legacy) + "). Use the force argument to flash anyway.");
    return llvm::Error::success();
}

// The sectors where the new data differs from the old, merged into runs: each run's data is the
// new bytes over 0xFF (bytes of the sector outside the new data are erased, as a full write
// erases them). Past either file's end a byte counts as erased (esptool's _diff_flash_regions).
std::vector<std::pair<uint32_t, std::vector<uint8_t>>>
changedSectors(const std::vector<uint8_t> &old_data, const std::vector<uint8_t> &new_data,
               uint32_t address) {
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> runs;
    if (new_data.empty()) return runs;
    const uint64_t end = uint64_t(address) + new_data.size();
    const uint64_t compared_end =
        uint64_t(address) + (new_data.size() + kSectorSize - 1) / kSectorSize * kSectorSize;
    auto byteAt = [&](const std::vector<uint8_t> &data, uint64_t at) -> uint8_t {
        return at >= address && at - address < data.size() ? data[at - address] : 0xFF;
    };
    const uint64_t first = address & ~uint64_t(kSectorSize - 1);
    for (uint64_t sector = first; sector < end; sector += kSectorSize) {
        bool differs = false;
        const uint64_t stop = std::min<uint64_t>(sector + kSectorSize, compared_end);
        for (uint64_t at = std::max<uint64_t>(sector, address); at < stop && !differs; ++at)
            differs = byteAt(old_data, at) != byteAt(new_data, at);
        if (!differs) continue;
        if (runs.empty() || runs.back().first + runs.back().second.size() != sector)
            runs.push_back({uint32_t(sector), {}});
        for (uint64_t at = sector; at < sector + kSectorSize; ++at)
            runs.back().second.push_back(byteAt(new_data, at));
    }
    return runs;
}

// The sectors [first, first + image.size()) as a full write leaves them hold `image` (the file's
// bytes over erased ones). Which of them the flash does not hold yet, from the chip's own digests
// (nothing the host remembers is trusted): our stub lists every sector's MD5 in one reply; through
// the ROM or another stub, one SPI_FLASH_MD5 per group of 16 sectors, then one per sector of a
// group that differs, until a group differs throughout.
llvm::Expected<std::vector<bool>> sectorsToWrite(Device &device, uint32_t first,
                                                 std::span<const uint8_t> image) {
    const size_t count = image.size() / kSectorSize;
    std::vector<bool> differs(count, false);
    auto sector = [&](size_t index, size_t sectors = 1) {
        return image.subspan(index * kSectorSize, std::min(sectors, count - index) * kSectorSize);
    };
    if (device.stub() && device.stub()->sector_digests) {
        auto digests = device.sectorDigests(first, uint32_t(image.size()), kSectorSize);
        if (!digests) return digests.takeError();
        for (size_t i = 0; i < count; ++i) differs[i] = (*digests)[i] != md5Of(sector(i));
        return differs;
    }
    constexpr size_t kGroup = 16;
    for (size_t group = 0; group < count; group += kGroup) {
        const auto piece = sector(group, kGroup);
        auto digest =
            device.flashMd5(first + uint32_t(group * kSectorSize), uint32_t(piece.size()));
        if (!digest) return digest.takeError();
        if (*digest == md5Of(piece)) continue;
        bool all_differ = true;
        for (size_t i = group; i < std::min(count, group + kGroup); ++i) {
            auto one = device.flashMd5(first + uint32_t(i * kSectorSize), kSectorSize);
            if (!one) return one.takeError();
            differs[i] = *one != md5Of(sector(i));
            all_differ = all_differ && differs[i];
        }
        // A group changed throughout (blank flash, code shifted by a rebuild): the rest is taken
        // as changed too rather than read twice over; writing a sector that held its data is
        // only slower.
        if (all_differ) {
            std::fill(differs.begin() + ptrdiff_t(group), differs.end(), true);
            break;
        }
    }
    return differs;
}

} // namespace

llvm::Expected<std::vector<FlashFile>> readFlashFiles(const std::vector<std::string> &words) {
    if (words.empty() || words.size() % 2)
        return error("Must be pairs of an address and the binary filename to write there.");
    std::vector<FlashFile> files;
    for (size_t i = 0; i < words.size(); i += 2) {
        auto address = cli::parseInteger(words[i]);
        if (!address) {
            llvm::consumeError(address.takeError());
            return error("Address \"" + words[i] + "\" must be a number.");
        }
        if (*address > UINT32_MAX)
            return error("Address \"" + words[i] + "\" is past the 4 GB a flash address can hold.");
        auto bytes = cli::readFile(words[i + 1]);
        if (!bytes) return bytes.takeError();
        if (formats::looksLikeIntelHex(*bytes)) {
            auto regions = formats::parseIntelHex(*bytes, words[i + 1]);
            if (regions) {
                for (auto &region : *regions)
                    files.push_back(
                        FlashFile{region.address, std::move(region.data), words[i + 1]});
                continue;
            }
            llvm::consumeError(regions.takeError());
        }
        files.push_back(
            FlashFile{static_cast<uint32_t>(*address), std::move(*bytes), words[i + 1]});
    }
    std::stable_sort(files.begin(), files.end(),
                     [](const FlashFile &a, const FlashFile &b) { return a.address < b.address; });
    uint64_t end = 0;
    for (size_t i = 0; i < files.size(); ++i) {
        uint64_t start = files[i].address & ~uint64_t(kSectorSize - 1);
        if (i > 0 && start < end)
            return error("Detected overlap at address: " + hex(files[i].address, 0) +
                         " for file: " + files[i].name + ".");
        end = (uint64_t(files[i].address) + files[i].data.size() + kSectorSize - 1) &
              ~uint64_t(kSectorSize - 1);
    }
    return files;
}

namespace {

// libdeflate's strongest level: zlib format as the ROMs and stubs inflate it, a few percent
// smaller than zlib's level 9 (esptool's), and the link is the bottleneck. Where that saves under
// 1% (data already compressed or encrypted), stored blocks instead: the same size on the wire, and
// the chip's inflater only copies them.
llvm::Expected<std::vector<uint8_t>> deflateImage(const FlashFile &file) {
    std::vector<uint8_t> payload;
    auto deflate = [&](int level) -> size_t {
        std::unique_ptr<libdeflate_compressor, void (*)(libdeflate_compressor *)> compressor(
            libdeflate_alloc_compressor(level), libdeflate_free_compressor);
        if (!compressor) return 0;
        payload.resize(libdeflate_zlib_compress_bound(compressor.get(), file.data.size()));
        return libdeflate_zlib_compress(compressor.get(), file.data.data(), file.data.size(),
                                        payload.data(), payload.size());
    };
    size_t compressed_size = deflate(12);
    if (compressed_size > file.data.size() / 100 * 99) compressed_size = deflate(0);
    if (compressed_size == 0) return error("could not compress '" + file.name + "'");
    payload.resize(compressed_size);
    return payload;
}

// The sizes of the data blocks to send `total` bytes in: whole blocks and a shorter last one.
// Tapered (through a stub, compressed): the odd remainder first, then whole blocks, then halving
// ones down to 1 KiB, as the stub answers a block before writing it and the host waits only for
// what is left to write after the last answer.
std::vector<uint32_t> blockSizes(size_t total, uint32_t block_size, bool taper) {
    std::vector<uint32_t> sizes(total / block_size, block_size);
    if (!taper) {
        if (total % block_size) sizes.push_back(uint32_t(total % block_size));
        return sizes;
    }
    std::vector<uint32_t> tail;
    size_t rest = total;
    for (uint32_t size = 1024; size < block_size && rest > size; size *= 2) {
        tail.push_back(size);
        rest -= size;
    }
    sizes.assign(rest / block_size, block_size);
    if (rest % block_size) sizes.insert(sizes.begin(), uint32_t(rest % block_size));
    sizes.insert(sizes.end(), tail.rbegin(), tail.rend());
    return sizes;
}

} // namespace

llvm::Expected<std::vector<PreparedFlashFile>>
prepareFlashFiles(const chipdb::ChipDescription &chip, std::vector<FlashFile> files,
                  const formats::FlashParams &params, bool compress) {
    std::vector<PreparedFlashFile> prepared;
    for (auto &file : files) {
        PreparedFlashFile entry;
        entry.length = uint32_t(file.data.size());
        if (!file.data.empty()) {
            auto patched = formats::patchFlashParams(file.data, file.address, chip, params);
            if (!patched) return patched.takeError();
            entry.notes = std::move(patched->notes);
            entry.warnings = std::move(patched->warnings);
            // Whole words: the ROM writes 4 bytes at a time, so pad with erased bytes.
            file.data.resize((file.data.size() + 3) & ~size_t(3), 0xFF);
            if (compress) {
                auto deflated = deflateImage(file);
                if (!deflated) return deflated.takeError();
                entry.compressed = std::move(*deflated);
            }
        }
        entry.file = std::move(file);
        prepared.push_back(std::move(entry));
    }
    return prepared;
}

llvm::Error writeFlash(Device &device, const FlashFilePreparer &prepare,
                       const WriteFlashOptions &options) {
    const auto &chip = *device.chip();
    const bool stub = device.stub() != nullptr;
    const bool compress = options.compress && (stub || chip.rom.compressed_flash);
    if (options.compress && !compress)
        llvm::outs() << "NOTE: " << chip.display_name
                     << " ROM cannot inflate: writing uncompressed.\n";
    if (auto failure = device.attachFlash()) return failure;
    auto flash_size =
        configureFlashSize(device, options.params.size == "keep" ? "keep" : options.params.size);
    if (!flash_size) return flash_size.takeError();
    auto files = prepare(resolvedParams(options.params, *flash_size));
    if (!files) return files.takeError();
    // Every file is checked before anything is written.
    for (const auto &prepared : *files) {
        const FlashFile &file = prepared.file;
        if (prepared.length == 0) continue;
        if (!options.force)
            if (auto failure = checkImageSuitsChip(device, file)) return failure;
        if (uint64_t(file.address) + prepared.length > *flash_size)
            return error("File '" + file.name + "' (length " + std::to_string(prepared.length) +
                         ") at offset " + hex(file.address) + " will not fit in " +
                         std::to_string(*flash_size) +
                         " bytes of flash. Change the flash_size argument or flashing address.");
        if (auto failure = checkAddressWidth(device, uint64_t(file.address) + prepared.length,
                                             "File '" + file.name + "'"))
            return failure;
    }
    if (options.erase_all)
        if (auto failure = eraseFlash(device)) return failure;
    // Where esptool turns fast reflashing off, and says why.
    std::string why_not;
    if (options.erase_all)
        why_not = "enabled erase-all";
    else if (!stub && !chip.rom.spi_flash_md5)
        why_not = std::string(chip.display_name) + " in ROM bootloader";
    const bool fast_reflash = !options.diff_with.empty() && why_not.empty();
    const bool skip_flashed = options.skip_flashed && why_not.empty();
    if (!why_not.empty() && !options.diff_with.empty())
        llvm::outs() << "Note: Fast reflashing of changed data sectors is not supported with "
                     << why_not << ". Will flash all data.\n";
    if (!why_not.empty() && options.skip_flashed)
        llvm::outs() << "Note: Skipping flashing of already flashed content is not supported "
                        "with "
                     << why_not << ". Will flash all data.\n";
    const uint32_t block_size = device.flashBlockSize();
    // Our own stub numbers its answers to data blocks (a late answer is then told apart).
    const bool numbered = stub && device.stub()->numbers_data_answers;
    // Writes one blob (a file, or the changed sectors of one) and says so as esptool does.
    auto writeBlob = [&](uint32_t address, const std::vector<uint8_t> &image,
                         const std::string &name, const std::string &source,
                         std::vector<uint8_t> compressed) -> llvm::Error {
        const uint32_t size = uint32_t(image.size());
        if (uint32_t before = address % kSectorSize; before && !options.erase_all)
            llvm::outs() << "Note: Flash address " << hex(address)
                         << " is not aligned to a 0x1000 byte flash sector. " << hex(before, 0)
                         << " bytes before this address will be erased.\n";
        llvm::outs()
            << "Flash will be erased from " << hex(address & ~(kSectorSize - 1)) << " to "
            << hex(((uint64_t(address) + size + kSectorSize - 1) & ~uint64_t(kSectorSize - 1)) - 1)
            << "...\n";

        // A ROM erases the whole region at FLASH_BEGIN, then programs every byte it is sent,
        // erased ones too: a tail of 0xFF is left out (a stub skips erased bytes itself).
        size_t meaningful = image.size();
        if (!stub) {
            while (meaningful > 0 && image[meaningful - 1] == 0xFF) --meaningful;
            meaningful = std::min(image.size(), std::max<size_t>((meaningful + 3) & ~size_t(3), 4));
            if (meaningful < image.size()) {
                llvm::outs() << "The last " << image.size() - meaningful
                             << " bytes are erased (0xFF): the erase covers them, so they are "
                                "not sent.\n";
                compressed.clear(); // it was made of the whole image
            }
        }
        const std::vector<uint8_t> data(image.begin(), image.begin() + ptrdiff_t(meaningful));
        std::vector<uint8_t> payload;
        bool deflate = compress;
        if (deflate) {
            if (compressed.empty()) {
                auto deflated = deflateImage(FlashFile{address, data, name});
                if (!deflated) return deflated.takeError();
                compressed = std::move(*deflated);
            }
            // Data that does not shrink goes as it is, as esptool v5.3 sends it.
            if (compressed.size() >= data.size()) {
                llvm::outs() << "Note: Cannot compress " << source
                             << " more than the original size, will flash uncompressed. "
                                "Compressed size "
                             << compressed.size() << " bytes >= uncompressed " << data.size()
                             << " bytes.\n";
                deflate = false;
            } else {
                payload = std::move(compressed);
                llvm::outs() << "Compressed " << data.size() << " bytes to " << payload.size()
                             << "...\n";
            }
        }
        if (!deflate) payload = data;
        const std::vector<uint32_t> block_sizes =
            blockSizes(payload.size(), block_size, stub && deflate);
        const uint32_t blocks = uint32_t(block_sizes.size());
        // A ROM erases up front what FLASH_BEGIN announces (ESP8266: its own miscounted
        // amount); a stub takes the exact size and erases as the data arrives.
        uint32_t erase_size = size;
        if (!stub && deflate) erase_size = (size + block_size - 1) / block_size * block_size;
        if (!stub && chip.rom.erase_size_bug) erase_size = esp8266EraseSize(address, erase_size);
        auto begin_timeout =
            stub ? device.timeouts().normal
                 : device.timeouts().scaled(device.timeouts().erase_per_mb_ms, erase_size);
        auto begin = device.command(deflate ? kFlashDeflBegin : kFlashBegin,
                                    beginPayload(chip, erase_size, blocks, block_size, address), 0,
                                    begin_timeout);
        if (!begin)
            return error("Writing '" + name +
                         "' failed before any data: " + llvm::toString(begin.takeError()));

        Progress progress("Writing", address, payload.size(), options.progress);
        size_t sent = 0;
        for (uint32_t block = 0; block < blocks; ++block) {
            std::vector<uint8_t> chunk(payload.begin() + sent,
                                       payload.begin() + sent + block_sizes[block]);
            if (!deflate) chunk.resize(block_size, 0xFF); // whole blocks; a stub drops the padding
            std::vector<uint8_t> data;
            put32(data, uint32_t(chunk.size()));
            put32(data, block);
            put32(data, 0);
            put32(data, 0);
            data.insert(data.end(), chunk.begin(), chunk.end());
            auto timeout = deflate ? device.timeouts().scaled(device.timeouts().erase_per_mb_ms,
                                                              block_size * 4)
                                   : device.timeouts().normal;
            auto written =
                device.command(deflate ? kFlashDeflData : kFlashData, data, dataChecksum(chunk),
                               timeout, 0, 3, numbered ? std::optional(block) : std::nullopt);
            if (!written)
                return error("Writing '" + name + "' stopped at " + hex(address + sent) +
                             " (block " + std::to_string(block + 1) + " of " +
                             std::to_string(blocks) + "): " + llvm::toString(written.takeError()));
            sent += block_sizes[block];
            progress.update(sent);
        }
        if (stub) {
            // A stub answers each block before writing it; its report on the last one comes here.
            std::vector<uint8_t> stay = {1, 0, 0, 0};
            const auto end_timeout =
                device.timeouts().scaled(device.timeouts().erase_per_mb_ms, block_size * 4);
            constexpr uint8_t kNotInFlashMode = 0xC6;
            llvm::Error ended = llvm::Error::success();
            for (int attempt = 0; attempt < 3; ++attempt) {
                llvm::consumeError(std::move(ended));
                auto reply =
                    device.command(deflate ? kFlashDeflEnd : kFlashEnd, stay, 0, end_timeout, 0, 1);
                ended = reply ? llvm::Error::success() : reply.takeError();
                if (!ended) break;
                // "Not in flash mode" to a resent end: the first one ended the session and its
                // answer was lost. Whether the write is whole is the MD5 check's to say.
                if (attempt > 0 && device.lastFailureStatus() == kNotInFlashMode) {
                    llvm::consumeError(std::move(ended));
                    ended = llvm::Error::success();
                    break;
                }
                if (device.lastFailureStatus()) break; // the stub's verdict on the write
            }
            if (ended)
                return error("Writing '" + name +
                             "' failed at the end: " + llvm::toString(std::move(ended)));
        }
        double seconds = progress.seconds();
        char summary[200];
        if (deflate)
            std::snprintf(summary, sizeof summary,
                          "Wrote %u bytes (%zu compressed) at %s in %.1f seconds (%.1f kbit/s).",
                          size, payload.size(), hex(address).c_str(), seconds,
                          seconds > 0 ? size * 8 / 1000.0 / seconds : 0.0);
        else
            std::snprintf(summary, sizeof summary,
                          "Wrote %u bytes at %s in %.1f seconds (%.1f kbit/s).", size,
                          hex(address).c_str(), seconds,
                          seconds > 0 ? size * 8 / 1000.0 / seconds : 0.0);
        llvm::outs() << summary << "\n";
        return llvm::Error::success();
    };
    const auto params = resolvedParams(options.params, *flash_size);
    WriteFlashStats unused_stats;
    WriteFlashStats &stats = options.stats ? *options.stats : unused_stats;
    size_t index = 0;
    for (auto &prepared : *files) {
        const size_t file_index = index++;
        const FlashFile &file = prepared.file;
        stats.bytes += prepared.length;
        // The sectors the file covers; each is counted written or skipped below.
        const uint64_t file_sectors =
            prepared.length == 0 ? 0
                                 : (((uint64_t(file.address) + file.data.size() + kSectorSize - 1) &
                                     ~uint64_t(kSectorSize - 1)) -
                                    (file.address & ~uint64_t(kSectorSize - 1))) /
                                       kSectorSize;
        if (prepared.length == 0) {
            llvm::outs() << "WARNING: '" << file.name << "' is empty.\n";
            continue;
        }
        for (const auto &warning : prepared.warnings)
            llvm::outs() << "WARNING: " << warning << "\n";
        for (const auto &note : prepared.notes) llvm::outs() << note << "\n";
        const std::vector<uint8_t> &image = file.data;
        const uint32_t size = uint32_t(image.size());
        const bool verifiable = stub || chip.rom.spi_flash_md5;
        const auto image_md5 = md5Of(image);
        const std::string quoted = "'" + file.name + "'";
        if (skip_flashed && verifiable) {
            llvm::outs() << "Comparing flash contents against new data...\n";
            auto flash_md5 = device.flashMd5Checked(file.address, size, image_md5);
            if (!flash_md5) return flash_md5.takeError();
            if (*flash_md5 == image_md5) {
                llvm::outs() << quoted << " at " << hex(file.address)
                             << " already in flash, skipping write.\n";
                stats.sectors_skipped += file_sectors;
                continue;
            }
        }
        // With the file the user says is in flash, only the sectors that differ from it are
        // written; the MD5 check afterwards decides whether that assumption held.
        std::vector<std::pair<uint32_t, std::vector<uint8_t>>> changed;
        bool reflashing = false;
        if (fast_reflash && file_index < options.diff_with.size() &&
            options.diff_with[file_index]) {
            std::vector<uint8_t> old = *options.diff_with[file_index];
            old.resize((old.size() + 3) / 4 * 4, 0xFF);
            if (auto patched = formats::patchFlashParams(old, file.address, chip, params); !patched)
                llvm::consumeError(patched.takeError());
            changed = changedSectors(old, image, file.address);
            if (!changed.empty()) {
                llvm::outs() << "Changed data sectors found, fast reflashing...\n";
                reflashing = true;
            } else if (options.trust_flash_content) {
                llvm::outs() << "No changed sectors found and trust flash content mode is "
                                "enabled, skipping write and verification.\n";
                stats.sectors_skipped += file_sectors;
                stats.verified = false;
                continue;
            } else if (verifiable) {
                llvm::outs() << "No changed sectors found, verifying if data is in flash...\n";
                auto flash_md5 = device.flashMd5Checked(file.address, size, image_md5);
                if (!flash_md5) return flash_md5.takeError();
                if (*flash_md5 == image_md5) {
                    llvm::outs() << quoted << " at " << hex(file.address) << " verified.\n";
                    stats.sectors_skipped += file_sectors;
                    continue;
                }
                llvm::outs() << "Note: Data not found in flash, flashing the whole image...\n";
            }
        }
        // By default the chip says which sectors already hold the file (the final MD5 check of
        // each written run stays): only the others are written.
        const bool device_diff = options.skip_unchanged_sectors && why_not.empty() && verifiable &&
                                 !reflashing && !skip_flashed && options.diff_with.empty();
        if (device_diff) {
            const uint32_t first = file.address & ~(kSectorSize - 1);
            const uint64_t end =
                (uint64_t(file.address) + size + kSectorSize - 1) & ~uint64_t(kSectorSize - 1);
            std::vector<uint8_t> sectors(size_t(end - first), 0xFF);
            std::copy(image.begin(), image.end(), sectors.begin() + (file.address - first));
            auto differs = sectorsToWrite(device, first, sectors);
            if (!differs) return differs.takeError();
            const size_t total = differs->size();
            const size_t unchanged = size_t(std::count(differs->begin(), differs->end(), false));
            if (unchanged > 0) {
                llvm::outs() << quoted << " at " << hex(file.address) << ": " << unchanged << " of "
                             << total << " sectors unchanged, skipped.\n";
                stats.sectors_skipped += unchanged;
                stats.sectors_written += total - unchanged;
                if (unchanged == total) continue;
                std::vector<std::pair<uint32_t, std::vector<uint8_t>>> runs;
                for (size_t i = 0; i < total; ++i) {
                    if (!(*differs)[i]) continue;
                    const uint32_t at = first + uint32_t(i * kSectorSize);
                    if (runs.empty() || runs.back().first + runs.back().second.size() != at)
                        runs.push_back({at, {}});
                    auto from = sectors.begin() + ptrdiff_t(i * kSectorSize);
                    runs.back().second.insert(runs.back().second.end(), from, from + kSectorSize);
                }
                for (auto &[address, data] : runs)
                    if (auto failure =
                            writeBlob(address, data, file.name, "changed sectors of " + quoted, {}))
                        return failure;
                llvm::outs() << "Verifying written data...\n";
                for (auto &[address, data] : runs) {
                    const auto expected = md5Of(data);
                    auto flash_md5 =
                        device.flashMd5Checked(address, uint32_t(data.size()), expected);
                    if (!flash_md5) return flash_md5.takeError();
                    if (*flash_md5 != expected) {
                        llvm::outs() << "Input MD5: " << llvm::toHex(expected, true)
                                     << "\nFlash MD5: " << llvm::toHex(*flash_md5, true) << "\n";
                        return error("MD5 of the sectors written at " + hex(address) +
                                     " does not match data in flash!");
                    }
                }
                llvm::outs() << "Hash of data verified.\n";
                continue;
            }
        }
        if (reflashing) {
            for (auto &[address, data] : changed) {
                const size_t sectors = data.size() / kSectorSize;
                stats.sectors_written += sectors;
                llvm::outs() << "Reflashing " << sectors << " changed sector"
                             << (sectors > 1 ? "s" : "") << " at " << hex(address) << "...\n";
                if (auto failure = writeBlob(address, data, file.name, "changed data", {}))
                    return failure;
            }
        } else if (auto failure = writeBlob(file.address, image, file.name, "file " + quoted,
                                            std::move(prepared.compressed))) {
            return failure;
        } else {
            stats.sectors_written += file_sectors;
        }
        uint64_t skipped_here = 0; // by --diff-with
        if (reflashing) {
            uint64_t rewritten = 0;
            for (auto &run : changed) rewritten += run.second.size() / kSectorSize;
            skipped_here = file_sectors - std::min(rewritten, file_sectors);
            stats.sectors_skipped += skipped_here;
        }

        if (!verifiable) {
            stats.verified = false;
            llvm::outs() << "NOTE: " << chip.display_name
                         << " ROM cannot compute MD5: the written data was not verified.\n";
            continue;
        }
        llvm::outs() << "Verifying written data...\n";
        const auto &expected = image_md5;
        auto flash_md5 = device.flashMd5Checked(file.address, size, expected);
        if (!flash_md5) return flash_md5.takeError();
        if (*flash_md5 != expected && reflashing) {
            llvm::outs() << "Note: Verification failed after fast reflash (flash content did not "
                            "match the expected data). Reflashing the whole image...\n";
            if (auto failure = writeBlob(file.address, image, file.name, "file " + quoted, {}))
                return failure;
            stats.sectors_skipped -= skipped_here;
            stats.sectors_written += skipped_here;
            llvm::outs() << "Verifying written data...\n";
            flash_md5 = device.flashMd5Checked(file.address, size, expected);
            if (!flash_md5) return flash_md5.takeError();
        }
        if (*flash_md5 != expected) {
            llvm::outs() << "Input MD5: " << llvm::toHex(expected, true)
                         << "\nFlash MD5: " << llvm::toHex(*flash_md5, true) << "\n";
            return error("MD5 of file does not match data in flash!");
        }
        llvm::outs() << "Hash of data verified.\n";
    }
    return llvm::Error::success();
}

} // namespace esptools::loader
