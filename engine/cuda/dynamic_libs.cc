// See dynamic_libs.h.
#include "engine/cuda/dynamic_libs.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"

namespace slimtrain::engine::cuda {
namespace {

CudnnApi cudnn_api;
CublasApi cublas_api;

#define SLIM_STRINGIFY_INNER(x) #x
#define SLIM_STRINGIFY(x) SLIM_STRINGIFY_INNER(x)

// Opens the first of `names` the loader finds.
void* Open(std::initializer_list<const char*> names, std::string* error) {
  for (const char* name : names) {
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* why = dlerror();
    if (error->empty() && why != nullptr) *error = why;
  }
  return nullptr;
}

absl::Status Load() {
  std::string error;
  void* cudnn = Open({"libcudnn.so." SLIM_STRINGIFY(CUDNN_MAJOR), "libcudnn.so"}, &error);
  if (cudnn == nullptr) {
    return absl::UnavailableError(absl::StrCat("cuDNN ", CUDNN_MAJOR, " cannot be loaded: ", error));
  }
  error.clear();
  void* cublas = Open({"libcublas.so." SLIM_STRINGIFY(CUBLAS_VER_MAJOR), "libcublas.so"}, &error);
  if (cublas == nullptr) {
    return absl::UnavailableError(absl::StrCat("cuBLAS ", CUBLAS_VER_MAJOR, " cannot be loaded: ", error));
  }
#define SLIM_LOAD(library, table, f)                                                                  \
  table.f = reinterpret_cast<decltype(table.f)>(dlsym(library, #f));                                \
  if (table.f == nullptr) {                                                                           \
    return absl::UnavailableError(absl::StrCat("the loaded " #library " library lacks " #f)); \
  }
#define SLIM_LOAD_CUDNN(f) SLIM_LOAD(cudnn, cudnn_api, f)
#define SLIM_LOAD_CUBLAS(f) SLIM_LOAD(cublas, cublas_api, f)
  SLIM_CUDNN_FUNCTIONS(SLIM_LOAD_CUDNN)
  SLIM_CUBLAS_FUNCTIONS(SLIM_LOAD_CUBLAS)
#undef SLIM_LOAD_CUBLAS
#undef SLIM_LOAD_CUDNN
#undef SLIM_LOAD
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadGpuLibraries() {
  static std::once_flag once;
  static absl::Status* status = nullptr;
  std::call_once(once, [] { status = new absl::Status(Load()); });
  return *status;
}

const CudnnApi& Cudnn() { return cudnn_api; }
const CublasApi& Cublas() { return cublas_api; }

}  // namespace slimtrain::engine::cuda
