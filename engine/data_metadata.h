// data_metadata.h — what trained weights record about their input, so that
// evaluation, a resumed run and a PyTorch user prepare data exactly as
// training did. Stored as strings in the safetensors __metadata__ (weights
// and checkpoints alike), each a JSON value:
//
//   "input_shape"  [3, 32, 32]                one example, (C,H,W) or (F)
//   "input_scale"  "1/255"                    x = pixel / 255 (uint8 pixels);
//                  "1"                        float values used as they are;
//                  "token ids"                ids, not scaled
//   "classes"      ["airplane", ...]          label i's name (image-folder: its
//                                             folder names; others: their names
//                                             or "0", "1", ...); absent for
//                                             token datasets and regressions
//   "mean", "std"  [0.4914, 0.4822, 0.4465]   per channel, only when training
//                                             normalised: x' = (x - mean) / std
//
//   SLIM_ASSIGN_OR_RETURN(DataMetadata m, ParseDataMetadata(file.metadata, path));
//   if (m.normalized()) stats = m.stats();
//
// A PyTorch user reproduces the input as transforms.ToTensor() (which is
// pixel / 255) followed by transforms.Normalize(mean, std).
#ifndef SLIMTRAIN_ENGINE_DATA_METADATA_H_
#define SLIMTRAIN_ENGINE_DATA_METADATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/data.h"
#include "planner/graph.h"

namespace slimtrain::engine {

struct DataMetadata {
  planner::Dims input_shape;         // empty: not recorded (weights from older builds)
  std::string input_scale;           // "1/255", "1" or "token ids"
  std::vector<std::string> classes;  // empty: not recorded
  std::vector<float> mean, std;      // empty: training did not normalise

  bool recorded() const { return !input_shape.empty(); }
  bool normalized() const { return !mean.empty(); }
  ChannelStats stats() const { return {mean, std}; }
};

// What `train` and the statistics training normalised with (`stats`, empty
// when it did not) say.
DataMetadata DescribeData(const Dataset& train, const ChannelStats& stats);

// The metadata entries, keys as above.
std::map<std::string, std::string> MetadataEntries(const DataMetadata& m);

// The entries of `metadata` above (other keys ignored; absent ones leave
// their fields empty). INVALID_ARGUMENT naming `filename` and the key when
// one is not the JSON it should be, or mean and std differ in length.
absl::StatusOr<DataMetadata> ParseDataMetadata(const std::map<std::string, std::string>& metadata,
                                               const std::string& filename);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_DATA_METADATA_H_
