#include "core/process.hpp"

#include <pthread.h>
#include <sys/resource.h>

namespace parley {

std::size_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace parley
