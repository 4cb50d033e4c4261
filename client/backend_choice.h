// backend_choice.h — the engine backend a local command runs on (--backend,
// --threads).
#ifndef SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_
#define SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace slimtrain::client {

// "fast" (oneDNN and vectorised kernels; `threads` 0: the machine's cores) or
// "reference" (readable loops, float32). INVALID_ARGUMENT naming --backend.
absl::StatusOr<std::unique_ptr<engine::Backend>> MakeBackend(const std::string& name, int64_t threads);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_BACKEND_CHOICE_H_
