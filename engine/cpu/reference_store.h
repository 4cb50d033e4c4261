// reference_store.h — how every reference kernel writes a result (private to
// engine/cpu/reference_*kernels.cc).
#ifndef SLIMTRAIN_ENGINE_CPU_REFERENCE_STORE_H_
#define SLIMTRAIN_ENGINE_CPU_REFERENCE_STORE_H_

namespace slimtrain::engine::reference {

// dst = v, or dst += v; the sum is formed in double and rounded once.
template <typename T>
void Store(T* dst, double v, bool accumulate) {
  *dst = static_cast<T>(accumulate ? static_cast<double>(*dst) + v : v);
}

}  // namespace slimtrain::engine::reference

#endif  // SLIMTRAIN_ENGINE_CPU_REFERENCE_STORE_H_
