// numpy_data.h — datasets from NumPy arrays x (inputs) and y (labels or
// targets), as a user saves them with np.save or np.savez.
//
//   SLIM_ASSIGN_OR_RETURN(Dataset train, LoadNumpy(dir, NumpyLayout::kNpz, Split::kTrain,
//                                                  {.input = {1, 28, 28}, .classes = 10}));
//
// Files, in the folder `dir`:
//   kNpy  train_x.npy, train_y.npy, test_x.npy, test_y.npy
//   kNpz  train.npz and test.npz, each holding arrays x and y:
//         np.savez(path, x=x, y=y) or np.savez_compressed(path, x=x, y=y)
// x, N examples:
//   dtype  uint8: pixels, a value is pixel / 255 (as the other image
//          datasets); float32 or float64: values used as they are (float64
//          rounded to float32), every one finite. Other dtypes are refused.
//   shape  (N, *input) exactly; for a (C,H,W) input also (N,H,W) when C = 1,
//          and (N,H,W,C) (channels last, transposed on loading) when that
//          is not also (N,C,H,W) read the other way: a shape that fits both
//          layouts is taken as (N,C,H,W).
// y: shape (N,) of an integer dtype (int8..int64, uint8..uint64) for a
//   classification, labels in [0, classes), named "0", "1", ...; or of a
//   float dtype, (N,) or (N,T), for a regression (targets_per_example T).
// Errors name the file (and the entry of an .npz): INVALID_ARGUMENT for a
// wrong dtype, shape, label or value, with the field and value; NOT_FOUND
// for a missing file or entry. The decoded split may take at most
// kMaxDatasetBytes, checked from the headers before it is allocated.
#ifndef SLIMTRAIN_ENGINE_NUMPY_DATA_H_
#define SLIMTRAIN_ENGINE_NUMPY_DATA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/data.h"
#include "engine/data_files.h"
#include "planner/graph.h"

namespace slimtrain::engine {

enum class NumpyLayout { kNpy, kNpz };

// What the model takes: the arrays are checked and shaped against it.
struct NumpyTarget {
  planner::Dims input;              // one example's input, e.g. (C,H,W) or (F)
  int64_t classes = 0;              // a classification's classes
  int64_t targets_per_example = 0;  // a regression's targets (mse_loss); 0 otherwise
};

absl::StatusOr<Dataset> LoadNumpy(const std::string& dir, NumpyLayout layout, Split split, const NumpyTarget& target,
                                  const DataFiles& files = {});

// The same from the arrays' bytes (a .npy file each); `x_name` and `y_name`
// name them in errors. For tests and the fuzzer.
absl::StatusOr<Dataset> DatasetFromNpy(absl::string_view x_bytes, const std::string& x_name,
                                       absl::string_view y_bytes, const std::string& y_name,
                                       const NumpyTarget& target);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_NUMPY_DATA_H_
