// kernels.h's layout and pooling ops: concat, flatten, weight layouts,
// max/avg/global-average pooling, forward and backward.
//
// Semantics are the reference's (engine/cpu/reference_kernels.cc) element
// for element: sums in double in the reference's order, rounded once;
// backward passes gather (each input-gradient element sums the output
// gradients that read it), so they need no atomics and write every element
// exactly once. Max pool: padding is −inf, the first maximum in window
// order (rows, then columns) wins, NaN wins (a later NaN takes the index),
// indices hold h·W + w of the input plane. Avg pool's divisor is the window
// clipped to the padded input (count_include_pad) or to the input.
//
// Pooling and concat walk channel tiles (kernel_util.cuh) whose unit is one
// (column, channel) pair of an image row, so a warp touches contiguous
// channels; flatten and the weight layouts are batched transposes through
// shared-memory tiles.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"

namespace slimtrain::engine::cuda {
namespace {

// ---------------------------------------------------------------- concat

// V consecutive floats as one access (V = 4: float4, aligned).
template <int V>
struct Pack {
  float v[V];
};
template <int V>
__device__ __forceinline__ Pack<V> LoadPack(const float* p) {
  Pack<V> r;
  if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    r.v[0] = q.x, r.v[1] = q.y, r.v[2] = q.z, r.v[3] = q.w;
  } else {
    r.v[0] = *p;
  }
  return r;
}
template <int V>
__device__ __forceinline__ void StorePack(float* p, const Pack<V>& r) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
    *p = r.v[0];
  }
}

// Rows of `units` packs of V floats: dst[row·dst_stride + dst_offset + u·V ...]
// = src[row·src_stride + src_offset + u·V ...] (or +=). Strides and offsets in
// floats, multiples of V.
template <int V>
__global__ void CopyColumnsKernel(Tiling t, const float* src, int64_t src_stride, int64_t src_offset, float* dst,
                                  int64_t dst_stride, int64_t dst_offset, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t col = l.unit * V;
#pragma unroll 4
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const Pack<V> v = LoadPack<V>(src + row * src_stride + src_offset + col);
    float* d = dst + row * dst_stride + dst_offset + col;
    if (accumulate) {
      Pack<V> o = LoadPack<V>(d);
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = static_cast<float>(static_cast<double>(o.v[k]) + v.v[k]);
      StorePack<V>(d, o);
    } else {
      StorePack<V>(d, v);
    }
  }
}

cudaError_t CopyColumns(int64_t rows, int64_t width, const float* src, int64_t src_stride, int64_t src_offset,
                        float* dst, int64_t dst_stride, int64_t dst_offset, bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return cudaSuccess;
  const bool vec = width % 4 == 0 && src_stride % 4 == 0 && src_offset % 4 == 0 && dst_stride % 4 == 0 &&
                   dst_offset % 4 == 0 && Aligned(src, 16) && Aligned(dst, 16);
  if (vec) {
    const Tiling t = MakeTiling(rows, width / 4, 65535);
    CopyColumnsKernel<4><<<t.grid(), kThreads, 0, stream>>>(t, src, src_stride, src_offset, dst, dst_stride,
                                                            dst_offset, accumulate);
  } else {
    const Tiling t = MakeTiling(rows, width, 65535);
    CopyColumnsKernel<1><<<t.grid(), kThreads, 0, stream>>>(t, src, src_stride, src_offset, dst, dst_stride,
                                                            dst_offset, accumulate);
  }
  return cudaGetLastError();
}

// ---------------------------------------------------------------- transpose

constexpr int kTile = 32;

// dst[b][j][i] = src[b][i][j] (or +=) for `batch` matrices of rows × cols,
// through a padded shared tile so reads and writes are both coalesced.
// Block (32, 8); grid-stride over tiles and matrices.
__global__ void TransposeKernel(int64_t batch, int64_t rows, int64_t cols, const float* src, float* dst,
                                bool accumulate) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t tile_rows = (rows + kTile - 1) / kTile, tile_cols = (cols + kTile - 1) / kTile;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const float* s = src + b * rows * cols;
    float* d = dst + b * rows * cols;
    for (int64_t tr = blockIdx.y; tr < tile_rows; tr += gridDim.y) {
      for (int64_t tc = blockIdx.x; tc < tile_cols; tc += gridDim.x) {
        for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
          const int64_t i = tr * kTile + k, j = tc * kTile + threadIdx.x;
          if (i < rows && j < cols) tile[k][threadIdx.x] = s[i * cols + j];
        }
        __syncthreads();
        for (int k = threadIdx.y; k < kTile; k += blockDim.y) {
          const int64_t j = tc * kTile + k, i = tr * kTile + threadIdx.x;
          if (i < rows && j < cols) Store(&d[j * rows + i], tile[threadIdx.x][k], accumulate);
        }
        __syncthreads();
      }
    }
  }
}

cudaError_t Transpose(int64_t batch, int64_t rows, int64_t cols, const float* src, float* dst, bool accumulate,
                      cudaStream_t stream) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
  const int64_t tile_rows = (rows + kTile - 1) / kTile, tile_cols = (cols + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(tile_cols < (1 << 30) ? tile_cols : (1 << 30)),
                  static_cast<unsigned>(tile_rows < 65535 ? tile_rows : 65535),
                  static_cast<unsigned>(batch < 65535 ? batch : 65535));
  TransposeKernel<<<grid, dim3(kTile, 8), 0, stream>>>(batch, rows, cols, src, dst, accumulate);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- zero padding

// One thread per element of the padded image: the input's value inside,
// zero in the border.
__global__ void PadNhwcKernel(int64_t count, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left,
                              int64_t padded_h, int64_t padded_w, const float* x, float* padded) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const int64_t ch = e % c, pw = (e / c) % padded_w, ph = (e / (c * padded_w)) % padded_h;
    const int64_t b = e / (c * padded_w * padded_h);
    const int64_t ih = ph - top, iw = pw - left;
    padded[e] = ih >= 0 && ih < h && iw >= 0 && iw < w ? x[((b * h + ih) * w + iw) * c + ch] : 0.0f;
  }
}

// One thread per element of dx: the padded gradient's interior.
__global__ void CropNhwcKernel(int64_t count, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left,
                               int64_t padded_h, int64_t padded_w, const float* padded, float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const int64_t ch = e % c, iw = (e / c) % w, ih = (e / (c * w)) % h, b = e / (c * w * h);
    const float v = padded[((b * padded_h + ih + top) * padded_w + iw + left) * c + ch];
    dx[e] = accumulate ? dx[e] + v : v;
  }
}

// ---------------------------------------------------------------- pooling

// Pooling geometry: input (N,H,W,C), output (N,Ho,Wo,C).
struct PoolGeom {
  int64_t n, h, w, c, ho, wo;
  int kh, kw, sh, sw, pt, pl, pb, pr;  // kernel, stride, padding (top, left, bottom, right)
  bool count_include_pad;

  // Outputs o whose window [o·stride − pad, o·stride − pad + k) holds input
  // i along one axis: lo <= o <= hi (empty when lo > hi).
  __device__ static void OutputsOf(int64_t i, int64_t out, int k, int stride, int pad, int64_t* lo, int64_t* hi) {
    const int64_t num = i + pad - k + 1;
    *lo = num > 0 ? (num + stride - 1) / stride : 0;
    const int64_t top = (i + pad) / stride;
    *hi = top < out - 1 ? top : out - 1;
  }
  __device__ void RowsOf(int64_t ih, int64_t* lo, int64_t* hi) const { OutputsOf(ih, ho, kh, sh, pt, lo, hi); }
  __device__ void ColumnsOf(int64_t iw, int64_t* lo, int64_t* hi) const { OutputsOf(iw, wo, kw, sw, pl, lo, hi); }
  // Average pool divisor of output (oh, ow), as PyTorch (the window clipped
  // to the padded input).
  __device__ int64_t AvgDivisor(int64_t oh, int64_t ow) const {
    const int64_t hs = oh * sh - pt, ws = ow * sw - pl;
    const int64_t he = min(hs + kh, h + pb), we = min(ws + kw, w + pr);
    if (count_include_pad) return (he - hs) * (we - ws);
    return (min(he, h) - max(hs, int64_t{0})) * (min(we, w) - max(ws, int64_t{0}));
  }
};

PoolGeom GeomOf(const Nhwc& x, const Pool& p) {
  return PoolGeom{x.n,        x.h,        x.w,        x.c,         p.ho,        p.wo,
                  p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,  p.pad_top,   p.pad_left,
                  p.pad_bottom, p.pad_right, p.count_include_pad};
}

// Rows N·Ho of units Wo·C: one output (n, oh, ow, c) per (row, unit).
__global__ void MaxPoolForwardKernel(Tiling t, PoolGeom g, const float* x, float* y, int32_t* indices) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t ow = l.unit / g.c, c = l.unit % g.c;
  const int64_t ws = ow * g.sw - g.pl;
  const int64_t w0 = max(ws, int64_t{0}), w1 = min(ws + g.kw, g.w);
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t b = row / g.ho, oh = row % g.ho;
    const int64_t hs = oh * g.sh - g.pt;
    const int64_t h0 = max(hs, int64_t{0}), h1 = min(hs + g.kh, g.h);
    float best = -INFINITY;
    int64_t arg = h0 * g.w + w0;
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const float v = x[((b * g.h + ih) * g.w + iw) * g.c + c];
        if (v > best || isnan(v)) {
          best = v;
          arg = ih * g.w + iw;
        }
      }
    }
    const int64_t o = row * g.wo * g.c + l.unit;
    y[o] = best;
    indices[o] = static_cast<int32_t>(arg);
  }
}

// Rows N·H of units W·C: one input-gradient element per (row, unit).
__global__ void MaxPoolBackwardKernel(Tiling t, PoolGeom g, const float* dy, const int32_t* indices, float* dx,
                                      bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t iw = l.unit / g.c, c = l.unit % g.c;
  int64_t ow0, ow1;
  g.ColumnsOf(iw, &ow0, &ow1);
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t b = row / g.h, ih = row % g.h;
    int64_t oh0, oh1;
    g.RowsOf(ih, &oh0, &oh1);
    const int32_t self = static_cast<int32_t>(ih * g.w + iw);
    double acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = ((b * g.ho + oh) * g.wo + ow) * g.c + c;
        if (indices[o] == self) acc += static_cast<double>(dy[o]);
      }
    }
    Store(&dx[row * g.w * g.c + l.unit], acc, accumulate);
  }
}

__global__ void AvgPoolForwardKernel(Tiling t, PoolGeom g, const float* x, float* y) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t ow = l.unit / g.c, c = l.unit % g.c;
  const int64_t ws = ow * g.sw - g.pl;
  const int64_t w0 = max(ws, int64_t{0}), w1 = min(ws + g.kw, g.w);
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t b = row / g.ho, oh = row % g.ho;
    const int64_t hs = oh * g.sh - g.pt;
    const int64_t h0 = max(hs, int64_t{0}), h1 = min(hs + g.kh, g.h);
    double acc = 0;
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) acc += static_cast<double>(x[((b * g.h + ih) * g.w + iw) * g.c + c]);
    }
    y[row * g.wo * g.c + l.unit] = static_cast<float>(acc / static_cast<double>(g.AvgDivisor(oh, ow)));
  }
}

__global__ void AvgPoolBackwardKernel(Tiling t, PoolGeom g, const float* dy, float* dx, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t iw = l.unit / g.c, c = l.unit % g.c;
  int64_t ow0, ow1;
  g.ColumnsOf(iw, &ow0, &ow1);
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t b = row / g.h, ih = row % g.h;
    int64_t oh0, oh1;
    g.RowsOf(ih, &oh0, &oh1);
    double acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        acc += static_cast<double>(dy[((b * g.ho + oh) * g.wo + ow) * g.c + c]) /
               static_cast<double>(g.AvgDivisor(oh, ow));
      }
    }
    Store(&dx[row * g.w * g.c + l.unit], acc, accumulate);
  }
}

// Rows N of units C: y[b, c] = Σ_p x[b, p, c] / P, p in order.
__global__ void GlobalAvgPoolForwardKernel(Tiling t, int64_t plane, const float* x, float* y) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  for (int64_t b = l.row; b < l.row_end; b += t.r) {
    const float* xb = x + b * plane * channels + c;
    double acc = 0;
    for (int64_t p = 0; p < plane; ++p) acc += static_cast<double>(xb[p * channels]);
    y[b * channels + c] = static_cast<float>(acc / static_cast<double>(plane));
  }
}

// Rows N of units C: dx[b, p, c] = dy[b, c] / P for every p.
__global__ void GlobalAvgPoolBackwardKernel(Tiling t, int64_t plane, const float* dy, float* dx, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  for (int64_t b = l.row; b < l.row_end; b += t.r) {
    const double v = static_cast<double>(dy[b * channels + c]) / static_cast<double>(plane);
    float* dxb = dx + b * plane * channels + c;
    for (int64_t p = 0; p < plane; ++p) Store(&dxb[p * channels], v, accumulate);
  }
}

}  // namespace

// ---------------------------------------------------------------- layout

cudaError_t ConcatForwardOne(Nhwc shape, int64_t c_in, int64_t offset, int64_t c_out, const float* x, float* y,
                             cudaStream_t stream) {
  const int64_t positions = shape.n * shape.h * shape.w;
  return CopyColumns(positions, c_in, x, c_in, 0, y, c_out, offset, false, stream);
}

cudaError_t ConcatBackwardOne(Nhwc shape, int64_t c_in, int64_t offset, int64_t c_out, const float* dy, float* dx,
                              bool accumulate, cudaStream_t stream) {
  const int64_t positions = shape.n * shape.h * shape.w;
  return CopyColumns(positions, c_in, dy, c_out, offset, dx, c_in, 0, accumulate, stream);
}

cudaError_t FlattenForward(Nhwc x_shape, const float* x, float* y, cudaStream_t stream) {
  const int64_t plane = x_shape.h * x_shape.w;
  if (plane == 1) return Copy(x_shape.count(), x, y, false, stream);
  // Per image: (P, C) -> (C, P).
  return Transpose(x_shape.n, plane, x_shape.c, x, y, false, stream);
}

cudaError_t FlattenBackward(Nhwc x_shape, const float* dy, float* dx, bool accumulate, cudaStream_t stream) {
  const int64_t plane = x_shape.h * x_shape.w;
  if (plane == 1) return Copy(x_shape.count(), dy, dx, accumulate, stream);
  // Per image: (C, P) -> (P, C).
  return Transpose(x_shape.n, x_shape.c, plane, dy, dx, accumulate, stream);
}

cudaError_t OihwToOhwi(int64_t k, int64_t c, int64_t r, int64_t s, const float* src, float* dst,
                       cudaStream_t stream) {
  return Transpose(k, c, r * s, src, dst, false, stream);  // per filter: (C, R·S) -> (R·S, C)
}

cudaError_t OhwiToOihw(int64_t k, int64_t c, int64_t r, int64_t s, const float* src, float* dst,
                       cudaStream_t stream) {
  return Transpose(k, r * s, c, src, dst, false, stream);  // per filter: (R·S, C) -> (C, R·S)
}

// ---------------------------------------------------------------- pooling

cudaError_t MaxPoolForward(Nhwc x_shape, Pool pool, const float* x, float* y, int32_t* indices,
                           cudaStream_t stream) {
  const PoolGeom g = GeomOf(x_shape, pool);
  if (g.n * g.ho <= 0 || g.wo * g.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(g.n * g.ho, g.wo * g.c, 65535, 1);
  MaxPoolForwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, g, x, y, indices);
  return cudaGetLastError();
}

cudaError_t MaxPoolBackward(Nhwc x_shape, Pool pool, const float* dy, const int32_t* indices, float* dx,
                            bool accumulate, cudaStream_t stream) {
  const PoolGeom g = GeomOf(x_shape, pool);
  if (g.n * g.h <= 0 || g.w * g.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(g.n * g.h, g.w * g.c, 65535, 1);
  MaxPoolBackwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, g, dy, indices, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t AvgPoolForward(Nhwc x_shape, Pool pool, const float* x, float* y, cudaStream_t stream) {
  const PoolGeom g = GeomOf(x_shape, pool);
  if (g.n * g.ho <= 0 || g.wo * g.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(g.n * g.ho, g.wo * g.c, 65535, 1);
  AvgPoolForwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, g, x, y);
  return cudaGetLastError();
}

cudaError_t AvgPoolBackward(Nhwc x_shape, Pool pool, const float* dy, float* dx, bool accumulate,
                            cudaStream_t stream) {
  const PoolGeom g = GeomOf(x_shape, pool);
  if (g.n * g.h <= 0 || g.w * g.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(g.n * g.h, g.w * g.c, 65535, 1);
  AvgPoolBackwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, g, dy, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t GlobalAvgPoolForward(Nhwc x_shape, const float* x, float* y, cudaStream_t stream) {
  if (x_shape.n <= 0 || x_shape.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(x_shape.n, x_shape.c, 65535, 1);
  GlobalAvgPoolForwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, x_shape.h * x_shape.w, x, y);
  return cudaGetLastError();
}

cudaError_t GlobalAvgPoolBackward(Nhwc x_shape, const float* dy, float* dx, bool accumulate, cudaStream_t stream) {
  if (x_shape.n <= 0 || x_shape.c <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(x_shape.n, x_shape.c, 65535, 1);
  GlobalAvgPoolBackwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, x_shape.h * x_shape.w, dy, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t PadNhwc(int64_t n, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left, int64_t padded_h,
                    int64_t padded_w, const float* x, float* padded, cudaStream_t stream) {
  const int64_t count = n * padded_h * padded_w * c;
  if (count <= 0) return cudaSuccess;
  PadNhwcKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, h, w, c, top, left,
                                                                                     padded_h, padded_w, x, padded);
  return cudaGetLastError();
}

cudaError_t CropNhwc(int64_t n, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left, int64_t padded_h,
                     int64_t padded_w, const float* padded, float* dx, bool accumulate, cudaStream_t stream) {
  const int64_t count = n * h * w * c;
  if (count <= 0) return cudaSuccess;
  CropNhwcKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(
      count, h, w, c, top, left, padded_h, padded_w, padded, dx, accumulate);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
