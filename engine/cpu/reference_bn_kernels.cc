// reference_bn_kernels.cc — the reference batch norm and the BN→ReLU
// quantizer's kernels (SAVE, restore, and the backwards that read codes);
// reference_kernels.cc has every other op. See reference_kernels.h.
#include <cmath>
#include <cstdint>

#include "base/status_macros.h"
#include "engine/cpu/reference_kernels.h"
#include "engine/cpu/reference_store.h"
#include "engine/quant.h"
#include "planner/strategy.h"

namespace slimtrain::engine::reference {
namespace {

using planner::Node;

// --- batch_norm: channel ch's j-th value (j < M) sits at j·C + ch (images,
// channels innermost, and features), or, over (N,C,L) stored row-major, at
// ((j / L)·C + ch)·L + j % L.
struct BnShape {
  int64_t c = 0;  // channels (features for (N,F))
  int64_t m = 0;  // values per channel: N·H·W, N·L or N
  int64_t l = 1;  // (C,L): the sequence length; else 1
  int64_t at(int64_t j, int64_t ch) const { return l == 1 ? j * c + ch : ((j / l) * c + ch) * l + j % l; }
};

BnShape BnShapeOf(const Node& n, int64_t batch) {
  SLIM_CHECK(!n.out.empty());
  const int64_t c = n.out[0];
  return BnShape{c, batch * (planner::NumElements(n.out) / c), n.out.size() == 2 ? n.out[1] : 1};
}

// --- codes: element i's mask, x̂' and z', from K-bit codes or pass-through
// values (engine/quant.h).
template <typename T>
class CodeReader {
 public:
  CodeReader(int bits, const void* code) : bits_(bits), code_(code) {}
  bool Mask(const quant::Channel<T>& ch, int64_t i) const {
    return pass() ? quant::PassThroughMask(ch, value(i)) : quant::Mask(ch, q(i));
  }
  T Xhat(const quant::Channel<T>& ch, int64_t i) const {
    return pass() ? quant::PassThroughXhat(ch, value(i)) : quant::RestoreXhat(ch, q(i));
  }
  T Relu(const quant::Channel<T>& ch, int64_t i) const {
    return pass() ? quant::PassThroughRelu(ch, value(i)) : quant::RestoreRelu(ch, q(i));
  }

 private:
  bool pass() const { return bits_ == planner::kPassThroughBits; }
  T value(int64_t i) const { return static_cast<const T*>(code_)[i]; }
  int q(int64_t i) const { return quant::GetCode(static_cast<const uint8_t*>(code_), bits_, i); }
  int bits_;
  const void* code_;
};

void CheckBits(int bits) { SLIM_CHECK(bits == 8 || bits == 4 || bits == 2 || bits == planner::kPassThroughBits); }

}  // namespace

// ---------------------------------------------------------------- batch_norm

template <typename T>
void BatchNormForward(const Node& n, int64_t batch, BatchNormMode mode, const T* x, const T* gamma,
                      const T* beta, T* running_mean, T* running_var, T* y, T* stats) {
  const BnShape s = BnShapeOf(n, batch);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    double mean = 0, invstd = 0;
    if (mode == BatchNormMode::kInference) {
      mean = static_cast<double>(running_mean[ch]);
      invstd = 1.0 / std::sqrt(static_cast<double>(running_var[ch]) + n.eps);
    } else {
      double sum = 0;
      for (int64_t j = 0; j < s.m; ++j) sum += static_cast<double>(x[s.at(j, ch)]);
      const double mu = sum / static_cast<double>(s.m);
      double squares = 0;
      for (int64_t j = 0; j < s.m; ++j) {
        const double d = static_cast<double>(x[s.at(j, ch)]) - mu;
        squares += d * d;
      }
      const double var = squares / static_cast<double>(s.m);
      stats[ch] = static_cast<T>(mu);
      stats[s.c + ch] = static_cast<T>(1.0 / std::sqrt(var + n.eps));
      if (mode == BatchNormMode::kTrain) {
        const double unbiased = s.m > 1 ? squares / static_cast<double>(s.m - 1) : var;
        running_mean[ch] =
            static_cast<T>((1.0 - n.momentum) * static_cast<double>(running_mean[ch]) + n.momentum * mu);
        running_var[ch] =
            static_cast<T>((1.0 - n.momentum) * static_cast<double>(running_var[ch]) + n.momentum * unbiased);
      }
      mean = static_cast<double>(stats[ch]);
      invstd = static_cast<double>(stats[s.c + ch]);
    }
    const double gm = static_cast<double>(gamma[ch]), bt = static_cast<double>(beta[ch]);
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      y[i] = static_cast<T>(gm * ((static_cast<double>(x[i]) - mean) * invstd) + bt);
    }
  }
}

template <typename T>
void BatchNormBackward(const Node& n, int64_t batch, const T* dy, const T* x, const T* gamma, const T* stats,
                       T* dx, bool accumulate, T* dgamma, T* dbeta) {
  const BnShape s = BnShapeOf(n, batch);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    const double mean = static_cast<double>(stats[ch]), invstd = static_cast<double>(stats[s.c + ch]);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      const double d = static_cast<double>(dy[i]);
      sum_dy += d;
      sum_dy_xhat += d * (static_cast<double>(x[i]) - mean) * invstd;
    }
    dgamma[ch] = static_cast<T>(sum_dy_xhat);
    dbeta[ch] = static_cast<T>(sum_dy);
    const double scale = static_cast<double>(gamma[ch]) * invstd;
    if (dx == nullptr) continue;  // the model input's batch norm: dγ and dβ only
    const double mean_dy = sum_dy / static_cast<double>(s.m), mean_dy_xhat = sum_dy_xhat / static_cast<double>(s.m);
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      const double xhat = (static_cast<double>(x[i]) - mean) * invstd;
      Store(&dx[i], scale * (static_cast<double>(dy[i]) - mean_dy - xhat * mean_dy_xhat), accumulate);
    }
  }
}

// ---------------------------------------------------------------- BN→ReLU codes

template <typename T>
void QuantizeBnRelu(const Node& bn, int64_t batch, int bits, const T* x, const T* y, const T* gamma,
                    const T* beta, const T* stats, void* code) {
  CheckBits(bits);
  const BnShape s = BnShapeOf(bn, batch);
  const bool pass = bits == planner::kPassThroughBits;
  uint8_t* packed = static_cast<uint8_t*>(code);
  if (!pass) std::memset(packed, 0, static_cast<size_t>((s.c * s.m * bits + 7) / 8));
  for (int64_t ch = 0; ch < s.c; ++ch) {
    const quant::Channel<T> c = quant::MakeChannel<T>(bits, gamma[ch], beta[ch]);
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      T xhat = 0;  // read only where γ = 0
      if (c.zero_gamma()) {
        xhat = static_cast<T>((static_cast<double>(x[i]) - static_cast<double>(stats[ch])) *
                              static_cast<double>(stats[s.c + ch]));
      }
      if (pass) {
        static_cast<T*>(code)[i] = quant::PassThroughValue(c, y[i], xhat);
      } else {
        quant::PutCode(packed, bits, i, quant::Encode(c, y[i], xhat));
      }
    }
  }
}

template <typename T>
void RestoreRelu(const Node& bn, int64_t batch, int bits, const void* code, const T* gamma, const T* beta,
                 T* z) {
  CheckBits(bits);
  const BnShape s = BnShapeOf(bn, batch);
  const CodeReader<T> read(bits, code);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    const quant::Channel<T> c = quant::MakeChannel<T>(bits, gamma[ch], beta[ch]);
    for (int64_t j = 0; j < s.m; ++j) z[s.at(j, ch)] = read.Relu(c, s.at(j, ch));
  }
}

template <typename T>
void ReluBackwardFromCode(const Node& bn, int64_t batch, int bits, const T* dz, const void* code,
                          const T* gamma, const T* beta, T* dy, bool accumulate) {
  CheckBits(bits);
  const BnShape s = BnShapeOf(bn, batch);
  const CodeReader<T> read(bits, code);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    const quant::Channel<T> c = quant::MakeChannel<T>(bits, gamma[ch], beta[ch]);
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      Store(&dy[i], read.Mask(c, i) ? static_cast<double>(dz[i]) : 0.0, accumulate);
    }
  }
}

template <typename T>
void BatchNormBackwardFromCode(const Node& bn, int64_t batch, int bits, const T* dy, const void* code,
                               const T* gamma, const T* beta, const T* stats, T* dx, bool accumulate,
                               T* dgamma, T* dbeta) {
  CheckBits(bits);
  const BnShape s = BnShapeOf(bn, batch);
  const CodeReader<T> read(bits, code);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    const quant::Channel<T> c = quant::MakeChannel<T>(bits, gamma[ch], beta[ch]);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      const double d = static_cast<double>(dy[i]);
      sum_dy += d;
      sum_dy_xhat += d * static_cast<double>(read.Xhat(c, i));
    }
    dgamma[ch] = static_cast<T>(sum_dy_xhat);
    dbeta[ch] = static_cast<T>(sum_dy);
    const double scale = static_cast<double>(gamma[ch]) * static_cast<double>(stats[s.c + ch]);
    if (dx == nullptr) continue;  // the model input's batch norm: dγ and dβ only
    const double mean_dy = sum_dy / static_cast<double>(s.m), mean_dy_xhat = sum_dy_xhat / static_cast<double>(s.m);
    for (int64_t j = 0; j < s.m; ++j) {
      const int64_t i = s.at(j, ch);
      const double xhat = static_cast<double>(read.Xhat(c, i));
      Store(&dx[i], scale * (static_cast<double>(dy[i]) - mean_dy - xhat * mean_dy_xhat), accumulate);
    }
  }
}

// ---------------------------------------------------------------- instances

#define SLIM_REFERENCE_BN_INSTANTIATE(T)                                                                         \
  template void BatchNormForward<T>(const Node&, int64_t, BatchNormMode, const T*, const T*, const T*, T*, T*, \
                                    T*, T*);                                                                   \
  template void BatchNormBackward<T>(const Node&, int64_t, const T*, const T*, const T*, const T*, T*, bool,  \
                                     T*, T*);                                                                  \
  template void QuantizeBnRelu<T>(const Node&, int64_t, int, const T*, const T*, const T*, const T*,          \
                                  const T*, void*);                                                            \
  template void RestoreRelu<T>(const Node&, int64_t, int, const void*, const T*, const T*, T*);               \
  template void ReluBackwardFromCode<T>(const Node&, int64_t, int, const T*, const void*, const T*, const T*, \
                                        T*, bool);                                                             \
  template void BatchNormBackwardFromCode<T>(const Node&, int64_t, int, const T*, const void*, const T*,      \
                                             const T*, const T*, T*, bool, T*, T*);

SLIM_REFERENCE_BN_INSTANTIATE(float)
SLIM_REFERENCE_BN_INSTANTIATE(double)

#undef SLIM_REFERENCE_BN_INSTANTIATE

}  // namespace slimtrain::engine::reference
