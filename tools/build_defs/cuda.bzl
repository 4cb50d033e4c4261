"""cuda_library: compile .cu files with nvcc in a genrule and link them as a cc_library.

Without a CUDA toolkit (CUDA_ENABLED False in @local_cuda//:defs.bzl) it defines
nothing: BUILD files name its targets only in `[...] if CUDA_ENABLED else []`
expressions, so a CPU-only build never reaches nvcc.

nvcc compiles for sm_80 and sm_90 (plus compute_90 PTX for newer GPUs), C++17,
-O3, with the host compiler's -Wall -Wextra; --fmad=false (no fused multiply-
adds, so device arithmetic rounds as the CPU reference's does) and
--expt-relaxed-constexpr (engine/quant.h's std::clamp/std::max in device code). `cu_hdrs` are the project headers
the .cu files include (a genrule sees only what it declares).
"""

load("@local_cuda//:defs.bzl", "CUDA_ENABLED", "NVCC")

_GENCODE = " ".join([
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
])

def cuda_library(name, srcs, hdrs = [], cu_hdrs = [], deps = [], visibility = None, testonly = False):
    if not CUDA_ENABLED:
        return
    objs = []
    for src in srcs:
        obj = "_%s_objs/%s.o" % (name, src.replace("/", "_").replace(".cu", ""))
        native.genrule(
            name = "%s_%s_nvcc" % (name, src.replace("/", "_").replace(".", "_")),
            srcs = [src] + hdrs + cu_hdrs + ["@local_cuda//:cuda_headers"],
            outs = [obj],
            cmd = ("%s -ccbin g++ -c -std=c++17 -O3 %s " % (NVCC, _GENCODE) +
                   "--fmad=false --expt-relaxed-constexpr " +
                   "--compiler-options=-fPIC,-Wall,-Wextra -Xcudafe --display_error_number " +
                   "-I. -I$(GENDIR) -o $@ $(location %s)" % src),
            testonly = testonly,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        visibility = visibility,
        testonly = testonly,
    )
