// See batches.h.
#include "engine/batches.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace slimtrain::engine {
namespace {

uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

BatchIterator::BatchIterator(const Dataset& data, int64_t batch, const BatchOptions& options, uint64_t seed,
                             ChannelStats stats)
    : data_(data), batch_(batch), options_(options), seed_(seed), stats_(std::move(stats)) {
  if (options_.normalize && stats_.mean.empty() && !data_.has_tokens()) stats_ = ComputeChannelStats(data_);
  Shuffle();
}

int64_t BatchIterator::epoch_size() const { return options_.ranks > 1 ? data_.size / options_.ranks : data_.size; }

int64_t BatchIterator::batches_per_epoch() const {
  const int64_t size = epoch_size();
  return options_.drop_last ? size / batch_ : (size + batch_ - 1) / batch_;
}

void BatchIterator::Shuffle() {
  order_.resize(data_.size);
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) {
    std::mt19937_64 rng(Mix(seed_ ^ Mix(static_cast<uint64_t>(epoch_))));
    // Fisher-Yates with our own index draws: std::shuffle's use of the
    // generator is implementation-defined.
    for (int64_t i = data_.size - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
      std::swap(order_[i], order_[j]);
    }
  }
}

void BatchIterator::Seek(int64_t epoch, int64_t position) {
  epoch_ = epoch;
  position_ = position;
  Shuffle();
}

void BatchIterator::Load(int64_t example, int64_t position, float* out) const {
  if (data_.has_tokens()) {  // ids as the input's values; nothing to augment
    const int64_t length = data_.example_elements();
    const int32_t* ids = data_.tokens.data() + example * length;
    for (int64_t t = 0; t < length; ++t) out[t] = static_cast<float>(ids[t]);
    return;
  }
  // (C,H,W) images; a (F) or (C,L) input is walked as C planes of 1xL.
  const int64_t c = data_.image[0], h = data_.image.size() >= 3 ? data_.image[1] : 1;
  const int64_t w = data_.example_elements() / (c * h);
  const int64_t pad = options_.crop_padding;
  // This example's augmentation, from (seed, epoch, position) alone.
  const uint64_t r = Mix(seed_ ^ Mix(static_cast<uint64_t>(epoch_) * 1000003 + static_cast<uint64_t>(position)));
  const int64_t dy = pad > 0 ? static_cast<int64_t>(r % static_cast<uint64_t>(2 * pad + 1)) - pad : 0;
  const int64_t dx = pad > 0 ? static_cast<int64_t>((r >> 16) % static_cast<uint64_t>(2 * pad + 1)) - pad : 0;
  const bool flip = options_.flip && ((r >> 40) & 1);
  const int64_t base = example * c * h * w;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float mean = options_.normalize ? stats_.mean[ch] : 0.0f;
    const float inv = options_.normalize ? 1.0f / stats_.std[ch] : 1.0f;
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        // Output (y, x) reads input (y + dy, x' + dx) of the zero-padded image.
        const int64_t sx = (flip ? w - 1 - x : x) + dx, sy = y + dy;
        float v = 0.0f;  // padding: zero in pixel units, then normalised
        if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
          const int64_t idx = base + (ch * h + sy) * w + sx;
          v = data_.value(idx);
        }
        out[(ch * h + y) * w + x] = (v - mean) * inv;
      }
    }
  }
}

int64_t BatchIterator::Next(float* images, int32_t* labels, float* targets) {
  const int64_t size = epoch_size();
  const int64_t remaining = size - position_;
  if (remaining <= 0 || (options_.drop_last && remaining < batch_)) {
    ++epoch_;
    position_ = 0;
    Shuffle();
  }
  const int64_t n = std::min(batch_, size - position_);
  const int64_t elements = data_.example_elements(), per_example = data_.labels_per_example;
  const int64_t ranks = std::max<int64_t>(options_.ranks, 1);
  for (int64_t i = 0; i < n; ++i) {
    // The position in the whole epoch's order (this rank's shard is strided).
    const int64_t at = (position_ + i) * ranks + options_.rank;
    const int64_t example = order_[at];
    Load(example, at, images + i * elements);
    std::copy_n(data_.labels.begin() + example * per_example, per_example, labels + i * per_example);
    if (targets != nullptr) {
      const int64_t t = data_.targets_per_example;
      std::copy_n(data_.targets.begin() + example * t, t, targets + i * t);
    }
  }
  position_ += n;
  return n;
}

}  // namespace slimtrain::engine
