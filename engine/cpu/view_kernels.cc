// See view_kernels.h.
#include "engine/cpu/view_kernels.h"

#include <algorithm>
#include <cstring>

#include "engine/cpu/parallel.h"

namespace slimtrain::engine::cpu {
namespace {

// dst = v, or dst += v; formed in double, rounded once (the reference's rule).
inline void Store(float* dst, double v, bool accumulate) {
  *dst = static_cast<float>(accumulate ? static_cast<double>(*dst) + v : v);
}

}  // namespace

void StridedCopy(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                 bool accumulate, int threads) {
  const int64_t count = dst.count();
  const int64_t row = dst.dims[dst.rank - 1];
  const bool rows = src.dims[src.rank - 1] == row && src.strides[src.rank - 1] == 1 &&
                    dst.strides[dst.rank - 1] == 1;
  if (rows) {
    const bool plain = scale == 1.0 && !accumulate;
    ParallelFor(count / row, std::max<int64_t>(1, kElementGrain / row), threads, [&](int64_t b, int64_t e, int) {
      for (int64_t r = b; r < e; ++r) {
        const float* from = x + src.At(r * row);
        float* to = y + dst.At(r * row);
        if (plain) {
          std::memcpy(to, from, static_cast<size_t>(row) * sizeof(float));
        } else {
          for (int64_t i = 0; i < row; ++i) Store(&to[i], scale * static_cast<double>(from[i]), accumulate);
        }
      }
    });
    return;
  }
  ParallelFor(count, kElementGrain, threads, [&](int64_t b, int64_t e, int) {
    for (int64_t k = b; k < e; ++k) Store(&y[dst.At(k)], scale * static_cast<double>(x[src.At(k)]), accumulate);
  });
}

void Reduce(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale, bool accumulate,
            int threads) {
  const int64_t count = dst.count();
  const int64_t grain = std::max<int64_t>(1, kElementGrain * count / std::max<int64_t>(src.count(), 1));
  ParallelFor(count, grain, threads, [&](int64_t b, int64_t e, int) {
    for (int64_t j = b; j < e; ++j) {
      const double sum =
          view::SumOver<double>(src, dst, j, [&](int64_t k) { return static_cast<double>(x[src.At(k)]); });
      Store(&y[dst.At(j)], scale * sum, accumulate);
    }
  });
}

void BinaryForward(BinaryOp op, const TensorView& a, const float* a_data, const TensorView& b, const float* b_data,
                   const TensorView& y, float* y_data, int threads) {
  ParallelFor(y.count(), kElementGrain, threads, [&](int64_t begin, int64_t end, int) {
    for (int64_t k = begin; k < end; ++k) {
      const double v = view::Apply<double>(op, a_data[a.At(k)], b_data[b.At(k)]);
      y_data[y.At(k)] = static_cast<float>(v);
    }
  });
}

void MatMul(const TensorView& a, const float* a_data, const TensorView& b, const float* b_data, const TensorView& y,
            float* y_data, bool accumulate, int threads) {
  const int64_t h = y.dims[1], m = y.dims[2], p = y.dims[3], k = a.dims[3];
  const int64_t rows = y.dims[0] * h * m;
  ParallelFor(rows, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(p * k, 1)), threads,
              [&](int64_t begin, int64_t end, int) {
                for (int64_t row = begin; row < end; ++row) {
                  const int64_t r = row % m, i1 = (row / m) % h, i0 = row / (m * h);
                  const float* ar = a_data + a.offset + i0 * a.strides[0] + i1 * a.strides[1] + r * a.strides[2];
                  const float* bb = b_data + b.offset + i0 * b.strides[0] + i1 * b.strides[1];
                  float* yr = y_data + y.offset + i0 * y.strides[0] + i1 * y.strides[1] + r * y.strides[2];
                  for (int64_t c = 0; c < p; ++c) {
                    double sum = 0;
                    for (int64_t t = 0; t < k; ++t) {
                      sum += static_cast<double>(ar[t * a.strides[3]]) *
                             static_cast<double>(bb[t * b.strides[2] + c * b.strides[3]]);
                    }
                    Store(&yr[c * y.strides[3]], sum, accumulate);
                  }
                }
              });
}

void EmbeddingForward(int64_t tokens, int64_t d, const float* ids, const float* table, float* y, int threads) {
  ParallelFor(tokens, std::max<int64_t>(1, kElementGrain / d), threads, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      std::memcpy(y + t * d, table + static_cast<int64_t>(ids[t]) * d, static_cast<size_t>(d) * sizeof(float));
    }
  });
}

void EmbeddingBackward(int64_t tokens, int64_t d, int64_t vocabulary, const float* ids, const float* dy,
                       float* dtable, bool accumulate, int threads) {
  constexpr int64_t kColumns = 64;
  const int64_t blocks = (d + kColumns - 1) / kColumns;
  ParallelFor(blocks, 1, threads, [&](int64_t b, int64_t e, int) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t c0 = blk * kColumns, c1 = std::min(d, c0 + kColumns);
      if (!accumulate) {
        for (int64_t id = 0; id < vocabulary; ++id) std::fill(dtable + id * d + c0, dtable + id * d + c1, 0.0f);
      }
      // Float adds in position order; the reference sums in double, so a
      // table row many positions share may differ from it in the last bits.
      for (int64_t t = 0; t < tokens; ++t) {
        float* row = dtable + static_cast<int64_t>(ids[t]) * d;
        for (int64_t c = c0; c < c1; ++c) row[c] += dy[t * d + c];
      }
    }
  });
}

namespace {

// Calls fn(index, b, i, j, c) for every element of an (N,rows,cols,C)
// tensor, threads taking rows of (N·rows): the element-by-element ops of
// pool_math.h, each element's arithmetic the reference's.
template <typename Fn>
void EachNhwc(int64_t batch, int64_t rows, int64_t cols, int64_t channels, int threads, Fn fn) {
  ParallelFor(batch * rows, 1, threads, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / rows, i = r % rows;
      for (int64_t j = 0; j < cols; ++j) {
        for (int64_t c = 0; c < channels; ++c) fn((r * cols + j) * channels + c, b, i, j, c);
      }
    }
  });
}

}  // namespace

void AdaptiveAvgPoolForward(const pool::Adaptive& g, int64_t batch, const float* x, float* y, int threads) {
  EachNhwc(batch, g.oh, g.ow, g.c, threads, [&](int64_t at, int64_t b, int64_t i, int64_t j, int64_t c) {
    y[at] = static_cast<float>(pool::AdaptiveAvg(g, x, b, i, j, c));
  });
}

void AdaptiveAvgPoolBackward(const pool::Adaptive& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                             int threads) {
  EachNhwc(batch, g.h, g.w, g.c, threads, [&](int64_t at, int64_t b, int64_t h, int64_t w, int64_t c) {
    Store(&dx[at], pool::AdaptiveAvgGrad(g, dy, b, h, w, c), accumulate);
  });
}

void UpsampleForward(const pool::Upsample& g, int64_t batch, const float* x, float* y, int threads) {
  EachNhwc(batch, g.oh, g.ow, g.c, threads, [&](int64_t at, int64_t b, int64_t i, int64_t j, int64_t c) {
    y[at] = static_cast<float>(pool::UpsampleAt(g, x, b, i, j, c));
  });
}

void UpsampleBackward(const pool::Upsample& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                      int threads) {
  EachNhwc(batch, g.h, g.w, g.c, threads, [&](int64_t at, int64_t b, int64_t h, int64_t w, int64_t c) {
    Store(&dx[at], pool::UpsampleGrad(g, dy, b, h, w, c), accumulate);
  });
}

void BinaryBackward(BinaryOp op, int index, const TensorView& a, const float* a_data, const TensorView& b,
                    const float* b_data, const TensorView& dy, const float* dy_data, const TensorView& d,
                    float* d_data, bool accumulate, int threads) {
  const bool reads_a = (op == BinaryOp::kMul || op == BinaryOp::kDiv) && index == 1;
  const bool reads_b = (op == BinaryOp::kMul && index == 0) || op == BinaryOp::kDiv;
  const int64_t count = d.count();
  const int64_t grain = std::max<int64_t>(1, kElementGrain * count / std::max<int64_t>(dy.count(), 1));
  ParallelFor(count, grain, threads, [&](int64_t begin, int64_t end, int) {
    for (int64_t j = begin; j < end; ++j) {
      const double sum = view::SumOver<double>(dy, d, j, [&](int64_t k) {
        const double av = reads_a ? static_cast<double>(a_data[a.At(k)]) : 0.0;
        const double bv = reads_b ? static_cast<double>(b_data[b.At(k)]) : 0.0;
        return static_cast<double>(dy_data[dy.At(k)]) * view::Partial<double>(op, index, av, bv);
      });
      Store(&d_data[d.At(j)], sum, accumulate);
    }
  });
}

}  // namespace slimtrain::engine::cpu
