// See backend_choice.h.
#include "client/backend_choice.h"

#include "absl/strings/str_cat.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"

namespace slimtrain::client {

absl::StatusOr<std::unique_ptr<engine::Backend>> MakeBackend(const std::string& name, int64_t threads) {
  if (threads < 0) return absl::InvalidArgumentError(absl::StrCat("--threads must be >= 0, got ", threads));
  if (name == "fast") return std::unique_ptr<engine::Backend>(new engine::FastBackend(static_cast<int>(threads)));
  if (name == "reference") return std::unique_ptr<engine::Backend>(new engine::ReferenceBackend(engine::DType::kF32));
  return absl::InvalidArgumentError(absl::StrCat("--backend: '", name, "' is not fast or reference"));
}

}  // namespace slimtrain::client
