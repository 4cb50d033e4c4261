// See reference_kernels.h: plain loops, sums in double, gathers for backward.
#include "engine/cpu/reference_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/status_macros.h"
#include "engine/cpu/reference_store.h"

namespace slimtrain::engine::reference {
namespace {

using planner::Dims;
using planner::Node;
using planner::OpKind;


// One example's image (C,H,W); a feature vector (F) is (F,1,1).
struct Image {
  int64_t c = 0, h = 1, w = 1;
  int64_t size() const { return c * h * w; }
};

Image ImageOf(const Dims& d) {
  SLIM_CHECK(d.size() == 3 || d.size() == 1);
  return d.size() == 3 ? Image{d[0], d[1], d[2]} : Image{d[0], 1, 1};
}

// Position of NHWC element m = (h·W + w)·C + c of one example in PyTorch's
// (C,H,W) flatten order: c·H·W + h·W + w.
int64_t TorchFeature(const Image& im, int64_t m) { return (m % im.c) * im.h * im.w + m / im.c; }

// --- windows (conv2d and pooling).

struct Window {
  int64_t n = 0;                 // batch
  int64_t h = 0, w = 0, c = 0;   // input (N,H,W,C)
  int64_t ho = 0, wo = 0, k = 0; // output (N,Ho,Wo,K); K = C for pools
  int64_t r = 0, s = 0;                 // kernel height, width
  int64_t sh = 1, sw = 1;               // stride
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;  // padding: top, left, bottom, right
  int64_t dh = 1, dw = 1;               // dilation
  int64_t groups = 1;

  int64_t cg() const { return c / groups; }  // input channels per group
  int64_t kg() const { return k / groups; }  // output channels per group
  int64_t x_at(int64_t b, int64_t ih, int64_t iw, int64_t ch) const { return ((b * h + ih) * w + iw) * c + ch; }
  int64_t y_at(int64_t b, int64_t oh, int64_t ow, int64_t ch) const { return ((b * ho + oh) * wo + ow) * k + ch; }
  int64_t w_at(int64_t oc, int64_t ci, int64_t kr, int64_t ks) const { return ((oc * cg() + ci) * r + kr) * s + ks; }
};

Window WindowOf(const Node& n, int64_t batch) {
  SLIM_CHECK(n.input_dims.size() == 1 && n.input_dims[0].size() == 3 && n.out.size() == 3);
  const Dims& in = n.input_dims[0];
  Window g;
  g.n = batch;
  g.c = in[0];
  g.h = in[1];
  g.w = in[2];
  g.k = n.out[0];
  g.ho = n.out[1];
  g.wo = n.out[2];
  g.r = n.kernel_h;
  g.s = n.kernel_w;
  g.sh = n.stride_h;
  g.sw = n.stride_w;
  g.pt = n.pad_top;
  g.pl = n.pad_left;
  g.pb = n.pad_bottom;
  g.pr = n.pad_right;
  g.dh = n.dilation_h;
  g.dw = n.dilation_w;
  g.groups = n.kind == OpKind::kConv2d ? n.groups : 1;
  return g;
}

// Outputs o whose pooling window [o·stride − pad, o·stride − pad + k) holds
// input i along one axis: lo <= o <= hi (empty when lo > hi).
void PoolOutputsOf(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t* lo, int64_t* hi) {
  const int64_t num = i + pad - k + 1;
  *lo = num > 0 ? (num + stride - 1) / stride : 0;
  *hi = std::min(out - 1, (i + pad) / stride);
}

// Average pool divisor of output (oh, ow), as PyTorch: the window clipped to
// the padded input, or to the input without count_include_pad.
int64_t AvgDivisor(const Window& g, bool count_include_pad, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
  const int64_t he = std::min(hs + g.r, g.h + g.pb), we = std::min(ws + g.s, g.w + g.pr);
  if (count_include_pad) return (he - hs) * (we - ws);
  return (std::min(he, g.h) - std::max<int64_t>(hs, 0)) * (std::min(we, g.w) - std::max<int64_t>(ws, 0));
}


}  // namespace

// ---------------------------------------------------------------- conv2d

template <typename T>
void Conv2dForward(const Node& n, int64_t batch, const T* x, const T* w, const T* b, T* y) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        for (int64_t oc = 0; oc < g.k; ++oc) {
          const int64_t c0 = (oc / g.kg()) * g.cg();  // first input channel of the group
          double acc = b != nullptr ? static_cast<double>(b[oc]) : 0.0;
          for (int64_t kr = 0; kr < g.r; ++kr) {
            const int64_t ih = oh * g.sh - g.pt + kr * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t ks = 0; ks < g.s; ++ks) {
              const int64_t iw = ow * g.sw - g.pl + ks * g.dw;
              if (iw < 0 || iw >= g.w) continue;
              for (int64_t ci = 0; ci < g.cg(); ++ci) {
                acc += static_cast<double>(w[g.w_at(oc, ci, kr, ks)]) *
                       static_cast<double>(x[g.x_at(bi, ih, iw, c0 + ci)]);
              }
            }
          }
          y[g.y_at(bi, oh, ow, oc)] = static_cast<T>(acc);
        }
      }
    }
  }
}

template <typename T>
void Conv2dBackwardData(const Node& n, int64_t batch, const T* dy, const T* w, T* dx, bool accumulate) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t ih = 0; ih < g.h; ++ih) {
      for (int64_t iw = 0; iw < g.w; ++iw) {
        for (int64_t c = 0; c < g.c; ++c) {
          const int64_t grp = c / g.cg(), ci = c % g.cg();
          double acc = 0;
          // Output (oh, ow) reads this input through tap (kr, ks) when
          // oh·stride − pad + kr·dil = ih (and likewise for the width).
          for (int64_t kr = 0; kr < g.r; ++kr) {
            const int64_t th = ih + g.pt - kr * g.dh;
            if (th < 0 || th % g.sh != 0 || th / g.sh >= g.ho) continue;
            const int64_t oh = th / g.sh;
            for (int64_t ks = 0; ks < g.s; ++ks) {
              const int64_t tw = iw + g.pl - ks * g.dw;
              if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.wo) continue;
              const int64_t ow = tw / g.sw;
              for (int64_t oc = grp * g.kg(); oc < (grp + 1) * g.kg(); ++oc) {
                acc += static_cast<double>(w[g.w_at(oc, ci, kr, ks)]) *
                       static_cast<double>(dy[g.y_at(bi, oh, ow, oc)]);
              }
            }
          }
          Store(&dx[g.x_at(bi, ih, iw, c)], acc, accumulate);
        }
      }
    }
  }
}

template <typename T>
void Conv2dBackwardWeights(const Node& n, int64_t batch, const T* x, const T* dy, T* dw, T* db) {
  const Window g = WindowOf(n, batch);
  for (int64_t oc = 0; oc < g.k; ++oc) {
    const int64_t c0 = (oc / g.kg()) * g.cg();
    for (int64_t ci = 0; ci < g.cg(); ++ci) {
      for (int64_t kr = 0; kr < g.r; ++kr) {
        for (int64_t ks = 0; ks < g.s; ++ks) {
          double acc = 0;
          for (int64_t bi = 0; bi < g.n; ++bi) {
            for (int64_t oh = 0; oh < g.ho; ++oh) {
              const int64_t ih = oh * g.sh - g.pt + kr * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (int64_t ow = 0; ow < g.wo; ++ow) {
                const int64_t iw = ow * g.sw - g.pl + ks * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                acc += static_cast<double>(dy[g.y_at(bi, oh, ow, oc)]) *
                       static_cast<double>(x[g.x_at(bi, ih, iw, c0 + ci)]);
              }
            }
          }
          dw[g.w_at(oc, ci, kr, ks)] = static_cast<T>(acc);
        }
      }
    }
  }
  if (db == nullptr) return;
  for (int64_t oc = 0; oc < g.k; ++oc) {
    double acc = 0;
    for (int64_t p = 0; p < g.n * g.ho * g.wo; ++p) acc += static_cast<double>(dy[p * g.k + oc]);
    db[oc] = static_cast<T>(acc);
  }
}

// ---------------------------------------------------------------- linear

template <typename T>
void LinearForward(const Node& n, int64_t batch, const T* x, const T* w, const T* b, T* y) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t f = in.size(), o = n.out_features;
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t oi = 0; oi < o; ++oi) {
      double acc = b != nullptr ? static_cast<double>(b[oi]) : 0.0;
      for (int64_t m = 0; m < f; ++m) {
        acc += static_cast<double>(w[oi * f + TorchFeature(in, m)]) * static_cast<double>(x[bi * f + m]);
      }
      y[bi * o + oi] = static_cast<T>(acc);
    }
  }
}

template <typename T>
void LinearBackwardData(const Node& n, int64_t batch, const T* dy, const T* w, T* dx, bool accumulate) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t f = in.size(), o = n.out_features;
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t m = 0; m < f; ++m) {
      const int64_t t = TorchFeature(in, m);
      double acc = 0;
      for (int64_t oi = 0; oi < o; ++oi) {
        acc += static_cast<double>(dy[bi * o + oi]) * static_cast<double>(w[oi * f + t]);
      }
      Store(&dx[bi * f + m], acc, accumulate);
    }
  }
}

template <typename T>
void LinearBackwardWeights(const Node& n, int64_t batch, const T* x, const T* dy, T* dw, T* db) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t f = in.size(), o = n.out_features;
  for (int64_t oi = 0; oi < o; ++oi) {
    for (int64_t m = 0; m < f; ++m) {
      double acc = 0;
      for (int64_t bi = 0; bi < batch; ++bi) {
        acc += static_cast<double>(dy[bi * o + oi]) * static_cast<double>(x[bi * f + m]);
      }
      dw[oi * f + TorchFeature(in, m)] = static_cast<T>(acc);
    }
    if (db != nullptr) {
      double acc = 0;
      for (int64_t bi = 0; bi < batch; ++bi) acc += static_cast<double>(dy[bi * o + oi]);
      db[oi] = static_cast<T>(acc);
    }
  }
}

// ---------------------------------------------------------------- elementwise

template <typename T>
void ReluForward(int64_t count, const T* x, T* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void ReluBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) Store(&dx[i], y[i] > T(0) ? static_cast<double>(dy[i]) : 0.0, accumulate);
}

template <typename T>
void SigmoidForward(int64_t count, const T* x, T* y) {
  for (int64_t i = 0; i < count; ++i) {
    const double v = static_cast<double>(x[i]);
    const double e = std::exp(-std::fabs(v));  // in (0, 1]
    y[i] = static_cast<T>(v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e));
  }
}

template <typename T>
void SigmoidBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) {
    const double s = static_cast<double>(y[i]);
    Store(&dx[i], static_cast<double>(dy[i]) * s * (1.0 - s), accumulate);
  }
}

template <typename T>
void TanhForward(int64_t count, const T* x, T* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = static_cast<T>(std::tanh(static_cast<double>(x[i])));
}

template <typename T>
void TanhBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) {
    const double t = static_cast<double>(y[i]);
    Store(&dx[i], static_cast<double>(dy[i]) * (1.0 - t * t), accumulate);
  }
}

template <typename T>
void AddForward(int64_t count, absl::Span<const void* const> inputs, T* y) {
  for (int64_t i = 0; i < count; ++i) {
    double acc = 0;
    for (const void* in : inputs) acc += static_cast<double>(static_cast<const T*>(in)[i]);
    y[i] = static_cast<T>(acc);
  }
}

template <typename T>
void Copy(int64_t count, const T* src, T* dst, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) Store(&dst[i], static_cast<double>(src[i]), accumulate);
}

template <typename T>
void DropoutForward(const Node& n, int64_t batch, const DropoutKey& key, const T* x, T* y) {
  const int64_t count = batch * planner::NumElements(n.out);
  const double scale = 1.0 / (1.0 - n.dropout_p);
  for (int64_t i = 0; i < count; ++i) {
    const bool keep = DropoutKeep(key, n.id, i, n.dropout_p);
    y[i] = static_cast<T>(keep ? static_cast<double>(x[i]) * scale : 0.0);
  }
}

template <typename T>
void DropoutBackward(const Node& n, int64_t batch, const DropoutKey& key, const T* dy, T* dx, bool accumulate) {
  const int64_t count = batch * planner::NumElements(n.out);
  const double scale = 1.0 / (1.0 - n.dropout_p);
  for (int64_t i = 0; i < count; ++i) {
    const bool keep = DropoutKeep(key, n.id, i, n.dropout_p);
    Store(&dx[i], keep ? static_cast<double>(dy[i]) * scale : 0.0, accumulate);
  }
}

// ---------------------------------------------------------------- layout

template <typename T>
void ConcatForward(const Node& n, int64_t batch, absl::Span<const void* const> inputs, T* y) {
  SLIM_CHECK(inputs.size() == n.input_dims.size());
  const int64_t total = n.out[0];
  const int64_t positions = batch * (planner::NumElements(n.out) / total);  // N·H·W
  int64_t offset = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const T* in = static_cast<const T*>(inputs[k]);
    const int64_t ck = n.input_dims[k][0];
    for (int64_t p = 0; p < positions; ++p) {
      for (int64_t c = 0; c < ck; ++c) y[p * total + offset + c] = in[p * ck + c];
    }
    offset += ck;
  }
}

template <typename T>
void ConcatBackward(const Node& n, int64_t batch, int index, const T* dy, T* dx, bool accumulate) {
  SLIM_CHECK(index >= 0 && index < static_cast<int>(n.input_dims.size()));
  const int64_t total = n.out[0];
  const int64_t positions = batch * (planner::NumElements(n.out) / total);
  int64_t offset = 0;
  for (int k = 0; k < index; ++k) offset += n.input_dims[k][0];
  const int64_t ck = n.input_dims[index][0];
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t c = 0; c < ck; ++c) {
      Store(&dx[p * ck + c], static_cast<double>(dy[p * total + offset + c]), accumulate);
    }
  }
}

template <typename T>
void FlattenForward(const Node& n, int64_t batch, const T* x, T* y) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t f = in.size();
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t m = 0; m < f; ++m) y[bi * f + TorchFeature(in, m)] = x[bi * f + m];
  }
}

template <typename T>
void FlattenBackward(const Node& n, int64_t batch, const T* dy, T* dx, bool accumulate) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t f = in.size();
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t m = 0; m < f; ++m) {
      Store(&dx[bi * f + m], static_cast<double>(dy[bi * f + TorchFeature(in, m)]), accumulate);
    }
  }
}

// ---------------------------------------------------------------- pooling

template <typename T>
void MaxPoolForward(const Node& n, int64_t batch, const T* x, T* y, int32_t* indices) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
        const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + g.r, g.h);
        const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min(ws + g.s, g.w);
        for (int64_t c = 0; c < g.c; ++c) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t arg = h0 * g.w + w0;
          for (int64_t ih = h0; ih < h1; ++ih) {
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T v = x[g.x_at(bi, ih, iw, c)];
              if (v > best || std::isnan(v)) {
                best = v;
                arg = ih * g.w + iw;
              }
            }
          }
          y[g.y_at(bi, oh, ow, c)] = best;
          indices[g.y_at(bi, oh, ow, c)] = static_cast<int32_t>(arg);
        }
      }
    }
  }
}

template <typename T>
void MaxPoolBackward(const Node& n, int64_t batch, const T* dy, const int32_t* indices, T* dx, bool accumulate) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t ih = 0; ih < g.h; ++ih) {
      int64_t oh0, oh1;
      PoolOutputsOf(ih, g.r, g.sh, g.pt, g.ho, &oh0, &oh1);
      for (int64_t iw = 0; iw < g.w; ++iw) {
        int64_t ow0, ow1;
        PoolOutputsOf(iw, g.s, g.sw, g.pl, g.wo, &ow0, &ow1);
        for (int64_t c = 0; c < g.c; ++c) {
          double acc = 0;
          for (int64_t oh = oh0; oh <= oh1; ++oh) {
            for (int64_t ow = ow0; ow <= ow1; ++ow) {
              const int64_t o = g.y_at(bi, oh, ow, c);
              if (indices[o] == ih * g.w + iw) acc += static_cast<double>(dy[o]);
            }
          }
          Store(&dx[g.x_at(bi, ih, iw, c)], acc, accumulate);
        }
      }
    }
  }
}

template <typename T>
void AvgPoolForward(const Node& n, int64_t batch, const T* x, T* y) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
        const double divisor = static_cast<double>(AvgDivisor(g, n.count_include_pad, oh, ow));
        for (int64_t c = 0; c < g.c; ++c) {
          double acc = 0;
          for (int64_t ih = std::max<int64_t>(hs, 0); ih < std::min(hs + g.r, g.h); ++ih) {
            for (int64_t iw = std::max<int64_t>(ws, 0); iw < std::min(ws + g.s, g.w); ++iw) {
              acc += static_cast<double>(x[g.x_at(bi, ih, iw, c)]);
            }
          }
          y[g.y_at(bi, oh, ow, c)] = static_cast<T>(acc / divisor);
        }
      }
    }
  }
}

template <typename T>
void AvgPoolBackward(const Node& n, int64_t batch, const T* dy, T* dx, bool accumulate) {
  const Window g = WindowOf(n, batch);
  for (int64_t bi = 0; bi < g.n; ++bi) {
    for (int64_t ih = 0; ih < g.h; ++ih) {
      int64_t oh0, oh1;
      PoolOutputsOf(ih, g.r, g.sh, g.pt, g.ho, &oh0, &oh1);
      for (int64_t iw = 0; iw < g.w; ++iw) {
        int64_t ow0, ow1;
        PoolOutputsOf(iw, g.s, g.sw, g.pl, g.wo, &ow0, &ow1);
        for (int64_t c = 0; c < g.c; ++c) {
          double acc = 0;
          for (int64_t oh = oh0; oh <= oh1; ++oh) {
            for (int64_t ow = ow0; ow <= ow1; ++ow) {
              acc += static_cast<double>(dy[g.y_at(bi, oh, ow, c)]) /
                     static_cast<double>(AvgDivisor(g, n.count_include_pad, oh, ow));
            }
          }
          Store(&dx[g.x_at(bi, ih, iw, c)], acc, accumulate);
        }
      }
    }
  }
}

template <typename T>
void GlobalAvgPoolForward(const Node& n, int64_t batch, const T* x, T* y) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t plane = in.h * in.w;
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t c = 0; c < in.c; ++c) {
      double acc = 0;
      for (int64_t p = 0; p < plane; ++p) acc += static_cast<double>(x[(bi * plane + p) * in.c + c]);
      y[bi * in.c + c] = static_cast<T>(acc / static_cast<double>(plane));
    }
  }
}

template <typename T>
void GlobalAvgPoolBackward(const Node& n, int64_t batch, const T* dy, T* dx, bool accumulate) {
  const Image in = ImageOf(n.input_dims[0]);
  const int64_t plane = in.h * in.w;
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t p = 0; p < plane; ++p) {
      for (int64_t c = 0; c < in.c; ++c) {
        Store(&dx[(bi * plane + p) * in.c + c], static_cast<double>(dy[bi * in.c + c]) / static_cast<double>(plane),
              accumulate);
      }
    }
  }
}

// ---------------------------------------------------------------- loss

namespace {

// Smoothed target of class j for a row labelled `label`.
double Target(const Node& n, int64_t classes, int64_t j, int32_t label) {
  const double eps = n.label_smoothing;
  return eps / static_cast<double>(classes) + (j == label ? 1.0 - eps : 0.0);
}

}  // namespace

template <typename T>
void SoftmaxCrossEntropyForward(const Node& n, int64_t batch, const T* logits, const int32_t* labels, T* probs,
                                T* loss) {
  const int64_t classes = n.input_dims[0][0];
  double total = 0;
  for (int64_t bi = 0; bi < batch; ++bi) {
    const T* row = logits + bi * classes;
    SLIM_CHECK(labels[bi] >= 0 && labels[bi] < classes);
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < classes; ++j) mx = std::max(mx, static_cast<double>(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
    const double lse = mx + std::log(sum);
    for (int64_t j = 0; j < classes; ++j) {
      const double nll = lse - static_cast<double>(row[j]);  // −log p_j
      probs[bi * classes + j] = static_cast<T>(std::exp(-nll));
      const double t = Target(n, classes, j, labels[bi]);
      if (t != 0) total += t * nll;
    }
  }
  *loss = static_cast<T>(total / static_cast<double>(batch));
}

template <typename T>
void SoftmaxCrossEntropyBackward(const Node& n, int64_t batch, const T* probs, const int32_t* labels, T* dlogits,
                                 bool accumulate) {
  const int64_t classes = n.input_dims[0][0];
  for (int64_t bi = 0; bi < batch; ++bi) {
    SLIM_CHECK(labels[bi] >= 0 && labels[bi] < classes);
    for (int64_t j = 0; j < classes; ++j) {
      const int64_t i = bi * classes + j;
      const double g = (static_cast<double>(probs[i]) - Target(n, classes, j, labels[bi])) / static_cast<double>(batch);
      Store(&dlogits[i], g, accumulate);
    }
  }
}

// ---------------------------------------------------------------- optimizer

template <typename T>
void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, T* param,
               const T* grad, T* momentum_buffer) {
  for (int64_t i = 0; i < count; ++i) {
    const double p = static_cast<double>(param[i]);
    const double g = static_cast<double>(grad[i]) + weight_decay * p;
    double step = g;
    if (momentum != 0) {
      const double buf = momentum * static_cast<double>(momentum_buffer[i]) + g;
      momentum_buffer[i] = static_cast<T>(buf);
      step = nesterov ? g + momentum * buf : buf;
    }
    param[i] = static_cast<T>(p - lr * step);
  }
}

// ---------------------------------------------------------------- instances

#define SLIM_REFERENCE_INSTANTIATE(T)                                                                          \
  template void Conv2dForward<T>(const Node&, int64_t, const T*, const T*, const T*, T*);                     \
  template void Conv2dBackwardData<T>(const Node&, int64_t, const T*, const T*, T*, bool);                    \
  template void Conv2dBackwardWeights<T>(const Node&, int64_t, const T*, const T*, T*, T*);                   \
  template void LinearForward<T>(const Node&, int64_t, const T*, const T*, const T*, T*);                     \
  template void LinearBackwardData<T>(const Node&, int64_t, const T*, const T*, T*, bool);                    \
  template void LinearBackwardWeights<T>(const Node&, int64_t, const T*, const T*, T*, T*);                   \
  template void ReluForward<T>(int64_t, const T*, T*);                                                         \
  template void ReluBackward<T>(int64_t, const T*, const T*, T*, bool);                                        \
  template void SigmoidForward<T>(int64_t, const T*, T*);                                                      \
  template void SigmoidBackward<T>(int64_t, const T*, const T*, T*, bool);                                     \
  template void TanhForward<T>(int64_t, const T*, T*);                                                         \
  template void TanhBackward<T>(int64_t, const T*, const T*, T*, bool);                                        \
  template void AddForward<T>(int64_t, absl::Span<const void* const>, T*);                                     \
  template void Copy<T>(int64_t, const T*, T*, bool);                                                          \
  template void DropoutForward<T>(const Node&, int64_t, const DropoutKey&, const T*, T*);                      \
  template void DropoutBackward<T>(const Node&, int64_t, const DropoutKey&, const T*, T*, bool);               \
  template void ConcatForward<T>(const Node&, int64_t, absl::Span<const void* const>, T*);                     \
  template void ConcatBackward<T>(const Node&, int64_t, int, const T*, T*, bool);                              \
  template void FlattenForward<T>(const Node&, int64_t, const T*, T*);                                         \
  template void FlattenBackward<T>(const Node&, int64_t, const T*, T*, bool);                                  \
  template void MaxPoolForward<T>(const Node&, int64_t, const T*, T*, int32_t*);                               \
  template void MaxPoolBackward<T>(const Node&, int64_t, const T*, const int32_t*, T*, bool);                  \
  template void AvgPoolForward<T>(const Node&, int64_t, const T*, T*);                                         \
  template void AvgPoolBackward<T>(const Node&, int64_t, const T*, T*, bool);                                  \
  template void GlobalAvgPoolForward<T>(const Node&, int64_t, const T*, T*);                                   \
  template void GlobalAvgPoolBackward<T>(const Node&, int64_t, const T*, T*, bool);                            \
  template void SoftmaxCrossEntropyForward<T>(const Node&, int64_t, const T*, const int32_t*, T*, T*);         \
  template void SoftmaxCrossEntropyBackward<T>(const Node&, int64_t, const T*, const int32_t*, T*, bool);      \
  template void SgdUpdate<T>(int64_t, double, double, double, bool, T*, const T*, T*);

SLIM_REFERENCE_INSTANTIATE(float)
SLIM_REFERENCE_INSTANTIATE(double)

#undef SLIM_REFERENCE_INSTANTIATE

}  // namespace slimtrain::engine::reference
