// Small graphs built with the IR builder and compiled to artifact bytes, so
// the runtime tests need no LibTorch and no files on disk. Weights come from
// a seeded pattern that the tests regenerate for their double-precision
// references.
#ifndef SINTER_TESTS_RUNTIME_ARTIFACT_FIXTURES_H_
#define SINTER_TESTS_RUNTIME_ARTIFACT_FIXTURES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace sinter::testing {

// Deterministic values in [-1, 1): the same (n, seed) always gives the same
// numbers, so a test can rebuild a fixture's weights and inputs.
std::vector<float> Pattern(int64_t n, uint32_t seed);

// Compiles `graph` with the named pipeline ("O0" or "default"); aborts the
// test binary with the compiler's message on failure (a fixture bug).
std::string CompileOrDie(ir::Graph& graph, const std::string& pipeline);

// x f32[1,3,8,8] -> conv2d(w f32[3,3,3,3] = Pattern(81, 11), b f32[3] =
// Pattern(3, 12), stride 1, padding 1) -> relu -> add x -> reduce_mean over
// axes {2,3} -> "out" f32[1,3].
void BuildConvResidual(ir::Graph* g);
inline constexpr uint32_t kConvWeightSeed = 11, kConvBiasSeed = 12;

// x f32[4,16] -> linear(w f32[10,16] = Pattern(160, 21), b f32[10] =
// Pattern(10, 22)) -> softmax(axis -1) -> "probs" f32[4,10].
void BuildLinearSoftmax(ir::Graph* g);
inline constexpr uint32_t kLinearWeightSeed = 21, kLinearBiasSeed = 22;

// a f32[2,3,4], b f32[2,5,4] -> concat(axis 1) [2,8,4] -> slice(axis 1,
// 1:7:2) [2,3,4] -> transpose(perm 2,0,1) [4,2,3] -> reshape [8,3] -> "y".
void BuildMovementChain(ir::Graph* g);

// x f32[3,5], y f32[5]: "sum" = add(x, y) f32[3,5] (broadcast) and
// "colmax" = reduce_max(tanh(x), axes {0}) f32[5].
void BuildTwoOutputs(ir::Graph* g);

// Big enough that kernels split work across threads: x f32[2,8,32,32] ->
// conv2d(w f32[16,8,3,3] = Pattern(1152, 41), padding 1) -> relu ->
// reduce_mean(axes {2,3}) [2,16] -> linear(w f32[32,16] = Pattern(512, 42))
// -> softmax(axis 1) -> "p" f32[2,32].
void BuildWideNet(ir::Graph* g);

// y = a chain of `links` links of 7 elementwise ops each (after folding)
// over x [3, 700] and a broadcast constant: one fused kernel far longer than
// any real model's.
void BuildLongChain(ir::Graph* g, int links);

// x f32[64,64] -> mul(x, scale) -> tanh -> add x -> "y": one fused
// elementwise kernel whose program differs between models only in `scale`.
void BuildScaledTanh(ir::Graph* g, float scale);

// The small artifact the damage tests start from: x f32[1,2,5,5] ->
// conv2d(w f32[2,2,3,3] = Pattern(36, 31), no bias) -> relu ->
// reduce_sum(axes {1}, keepdim) -> "y" f32[1,1,3,3]. One constant.
void BuildSmallConv(ir::Graph* g);
inline constexpr uint32_t kSmallConvWeightSeed = 31;

// A dynamic batch, "batch" in [1, 8]: a f32[batch,4], b f32[2,batch,4] and
// c f32[3] (shared) -> "sum" = add(a, b) f32[2,batch,4], "t" = tanh(a)
// f32[batch,4] and "twice_c" = c + c f32[3], compiled for one sample (the
// runtime runs the batch sample by sample).
std::string DynamicBatchArtifact();

}  // namespace sinter::testing

#endif  // SINTER_TESTS_RUNTIME_ARTIFACT_FIXTURES_H_
