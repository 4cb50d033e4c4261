// batches.h — training batches: shuffled with a seed, augmented, normalised.
//
//   BatchIterator batches(train, /*batch=*/128, {.crop_padding = 2, .flip = true,
//                                                .normalize = true, .shuffle = true}, seed);
//   std::vector<float> images(128 * train.example_elements());
//   std::vector<int32_t> labels(128);
//   batches.Next(images.data(), labels.data());   // (N,C,H,W) floats
//
// Inputs are pixel / 255, or a float dataset's values as they are.
// A token dataset's batches are its ids as floats, (n,L), and its labels
// (n, labels_per_example); crop, flip and normalisation do not apply.
//
// Determinism: epoch e's order is a permutation drawn from (seed, e); the
// augmentation of the example at position p of epoch e is drawn from (seed,
// e, p) alone. So the whole stream is a function of (seed, epoch, position),
// and a checkpoint needs only those (position()/Seek()).
// Batches never straddle epochs: the last incomplete batch of an epoch is
// dropped in training (drop_last) and kept, smaller, for evaluation.
#ifndef SLIMTRAIN_ENGINE_BATCHES_H_
#define SLIMTRAIN_ENGINE_BATCHES_H_

#include <cstdint>
#include <vector>

#include "engine/data.h"

namespace slimtrain::engine {

struct BatchOptions {
  int64_t crop_padding = 0;  // random crop after zero padding of this many pixels
  bool flip = false;         // random horizontal flip
  bool normalize = false;    // subtract the channel mean, divide by its std
  bool shuffle = false;      // a new permutation every epoch
  bool drop_last = true;     // skip the last incomplete batch of an epoch
  // Data-parallel: this rank's shard of every epoch, as PyTorch's
  // DistributedSampler (drop_last): the examples at positions rank, rank +
  // ranks, rank + 2·ranks, ... of the epoch's order, floor(size / ranks) of
  // them, each augmented as the example at that position of a single
  // process's epoch. So the ranks' batches of step s are, together, the
  // batch of step s of one process with `ranks` times the batch.
  int64_t rank = 0;
  int64_t ranks = 1;
};

class BatchIterator {
 public:
  // `data` must outlive the iterator. Normalisation uses `stats` (normally
  // the training set's, ComputeChannelStats).
  BatchIterator(const Dataset& data, int64_t batch, const BatchOptions& options, uint64_t seed,
                ChannelStats stats = {});

  // Fills `images` (n,C,H,W) and `labels` (n, labels_per_example) (and, for
  // a regression, `targets` (n, targets_per_example)) with the next batch
  // and returns n (= batch, or fewer for the last batch of an epoch without
  // drop_last), moving to the next epoch when this one is done.
  int64_t Next(float* images, int32_t* labels, float* targets = nullptr);

  int64_t batch() const { return batch_; }
  int64_t epoch() const { return epoch_; }
  // Examples of the current epoch already served (of this rank's shard).
  int64_t position() const { return position_; }
  // Examples of an epoch this iterator serves from: the dataset's, or a
  // rank's shard of it.
  int64_t epoch_size() const;
  // Batches per epoch.
  int64_t batches_per_epoch() const;
  // Continue from (epoch, position), as if that many had been served.
  void Seek(int64_t epoch, int64_t position);

 private:
  void Shuffle();
  void Load(int64_t example, int64_t position, float* out) const;

  const Dataset& data_;
  int64_t batch_;
  BatchOptions options_;
  uint64_t seed_;
  ChannelStats stats_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, position_ = 0;
};

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_BATCHES_H_
