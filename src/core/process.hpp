// Process-wide resources.
#pragma once

#include <cstddef>

namespace parley {

// Raises the soft limit on open files to the hard limit (which an unprivileged process cannot
// raise) and returns the limit now in force; 0 when it cannot be read.
std::size_t raise_fd_limit();

// Names the calling thread (Linux: at most 15 characters are kept), so that top -H, perf
// and parley-bench's CPU-by-thread report say which part of the server spends the CPU.
void name_this_thread(const char* name);

}  // namespace parley
