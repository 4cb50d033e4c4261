// view_kernels.h — the fast CPU backend's float32 strided copies,
// reductions and broadcast binary ops over TensorViews
// (engine/tensor_view.h), with the semantics of the reference kernels
// (engine/cpu/reference_kernels.h).
//
// OpenMP over output elements (or rows); a copy whose innermost axis is
// contiguous on both sides and equally long moves whole rows (memcpy when
// it neither scales nor accumulates). Sums (reductions, gradients of
// broadcast inputs) are formed in double in the reference's order, so the
// results agree with the reference bit for bit; forward binary ops and
// scaled copies round once from double, as the reference does.
#ifndef SLIMTRAIN_ENGINE_CPU_VIEW_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_VIEW_KERNELS_H_

#include <cstdint>

#include "engine/pool_math.h"
#include "engine/tensor_view.h"

namespace slimtrain::engine::cpu {

void StridedCopy(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                 bool accumulate, int threads);
void Reduce(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale, bool accumulate,
            int threads);
void BinaryForward(BinaryOp op, const TensorView& a, const float* a_data, const TensorView& b, const float* b_data,
                   const TensorView& y, float* y_data, int threads);
// y (+)= a·b over rank-4 views; threads take rows of y; sums in double
// (the reference's results bit for bit when the views are plain).
void MatMul(const TensorView& a, const float* a_data, const TensorView& b, const float* b_data, const TensorView& y,
            float* y_data, bool accumulate, int threads);
// embedding (Backend::EmbeddingForward/Backward): rows copied by id; the
// backward zeroes the table's gradient (unless `accumulate`), then threads
// take blocks of columns and add dy's rows in position order (the
// reference's order).
void EmbeddingForward(int64_t tokens, int64_t d, const float* ids, const float* table, float* y, int threads);
void EmbeddingBackward(int64_t tokens, int64_t d, int64_t vocabulary, const float* ids, const float* dy,
                       float* dtable, bool accumulate, int threads);
// adaptive_avg_pool: engine/pool_math.h per element, threads over rows
// (the reference's results bit for bit).
void AdaptiveAvgPoolForward(const pool::Adaptive& g, int64_t batch, const float* x, float* y, int threads);
void AdaptiveAvgPoolBackward(const pool::Adaptive& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                             int threads);
// upsample: engine/pool_math.h per element, threads over rows (the
// reference's results bit for bit).
void UpsampleForward(const pool::Upsample& g, int64_t batch, const float* x, float* y, int threads);
void UpsampleBackward(const pool::Upsample& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                      int threads);
void BinaryBackward(BinaryOp op, int index, const TensorView& a, const float* a_data, const TensorView& b,
                    const float* b_data, const TensorView& dy, const float* dy_data, const TensorView& d,
                    float* d_data, bool accumulate, int threads);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_VIEW_KERNELS_H_
