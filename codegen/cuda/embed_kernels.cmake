# Writes a header with the hand-written CUDA kernel sources as string
# literals, so that sinterc compiles them with NVRTC into each module.
file(READ ${SRC}/kernels/cuda/params.h PARAMS)
file(READ ${SRC}/kernels/cuda/kernels.cuh KERNELS)
file(READ ${SRC}/kernels/cast.h CAST)
file(READ ${SRC}/kernels/grid_sample.h GRID_SAMPLE)
file(WRITE ${OUT}.tmp "// Generated from kernels/cuda by codegen/cuda/embed_kernels.cmake.\n#pragma once\nnamespace sinter::codegen::cuda {\ninline constexpr char kCudaParamsH[] = R\"sinter_src(${PARAMS})sinter_src\";\ninline constexpr char kCastH[] = R\"sinter_src(${CAST})sinter_src\";\ninline constexpr char kGridSampleH[] = R\"sinter_src(${GRID_SAMPLE})sinter_src\";\ninline constexpr char kCudaKernelsCuh[] = R\"sinter_src(${KERNELS})sinter_src\";\n}\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
