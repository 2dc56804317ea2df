#include "esptools/cli/cli.h"
#include "esptools/imagegen/commands.h"

namespace esptools::imagegen {
// Placeholder while the command is being written: it fails loudly rather than pretending.
int runMergeBin(const CommandContext &) {
    return cli::reportError("esp-imagegen", cli::makeError("merge_bin is not implemented yet"));
}
} // namespace esptools::imagegen
