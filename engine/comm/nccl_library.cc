// See nccl_library.h.
#include "engine/comm/nccl_library.h"

#include <dlfcn.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace slimtrain::engine::comm {
namespace {

NcclApi nccl_api;

#define SLIM_STRINGIFY_INNER(x) #x
#define SLIM_STRINGIFY(x) SLIM_STRINGIFY_INNER(x)

absl::Status Load() {
  constexpr const char* kName = "libnccl.so." SLIM_STRINGIFY(NCCL_MAJOR);
  void* library = dlopen(kName, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(
        absl::StrCat("NCCL ", NCCL_MAJOR, " cannot be loaded (", kName, "): ", why == nullptr ? "" : why));
  }
#define SLIM_LOAD_NCCL(f)                                                            \
  nccl_api.f = reinterpret_cast<decltype(nccl_api.f)>(dlsym(library, #f));           \
  if (nccl_api.f == nullptr) {                                                       \
    return absl::UnavailableError(absl::StrCat("the loaded ", kName, " lacks " #f)); \
  }
  SLIM_NCCL_FUNCTIONS(SLIM_LOAD_NCCL)
#undef SLIM_LOAD_NCCL
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadNccl() {
  static std::once_flag once;
  static absl::Status* status = nullptr;
  std::call_once(once, [] { status = new absl::Status(Load()); });
  return *status;
}

const NcclApi& Nccl() { return nccl_api; }

}  // namespace slimtrain::engine::comm
