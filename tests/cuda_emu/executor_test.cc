// The executor on hand-written kernels (test_kernels.cu.cc): results
// against serial references for grid-stride loops, every shuffle and vote,
// a shared-memory block reduction, dynamic shared memory, atomics and
// 16-byte accesses; then one kernel per bug, each of which must fail its
// launch with a precise report (the reports are printed, for the record).
#include "tests/cuda_emu/executor.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cuda_emu/test_kernels.h"

namespace sinter::cuda_emu {
namespace {

using ::testing::HasSubstr;

// Prints a failed launch's report, so the test log shows what users see.
void Show(const LaunchReport& r) { std::cout << "[report] " << r.message << "\n"; }

TEST(Executor, GridStrideLoop) {
  const int n = 1000;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = 0.5f * i, y[i] = 1.f - i;
  DeviceBuffer<float> dx(x, "x"), dy(y, "y");
  // 3 blocks of 128 threads: each thread takes several elements.
  const LaunchReport r = Launch(&emu_axpy, dim3(3), dim3(128), 0, dx.get(), dy.get(), 2.f, n);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.kernel, "emu_axpy");
  const std::vector<float> got = dy.ToHost();
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], 2.f * x[i] + y[i]) << i;
}

TEST(Executor, ThreeDimensionalGridsAndBlocks) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const unsigned threads = 3 * 2 * 2 * 4 * 3 * 2;
  DeviceBuffer<unsigned> out(threads * 12, "out");
  const LaunchReport r = Launch(&emu_coords, grid, block, 0, out.get());
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<unsigned> got = out.ToHost();
  unsigned i = 0;
  for (unsigned bz = 0; bz < 2; ++bz) {
    for (unsigned by = 0; by < 2; ++by) {
      for (unsigned bx = 0; bx < 3; ++bx) {
        for (unsigned tz = 0; tz < 2; ++tz) {
          for (unsigned ty = 0; ty < 3; ++ty) {
            for (unsigned tx = 0; tx < 4; ++tx, ++i) {
              const std::vector<unsigned> want = {tx, ty, tz, bx, by, bz, 4, 3, 2, 3, 2, 2};
              ASSERT_EQ(std::vector<unsigned>(&got[i * 12], &got[i * 12 + 12]), want) << i;
            }
          }
        }
      }
    }
  }
}

// A std::function body (its captures fit its inline storage) calling the
// kernel.
TEST(Executor, StdFunctionBody) {
  const int n = 100;
  DeviceBuffer<float> x(std::vector<float>(n, 1.f), "x"), y(std::vector<float>(n, 2.f), "y");
  float* px = x.get();
  float* py = y.get();
  const std::function<void()> body = [px, py] { emu_axpy(px, py, 3.f, 100); };
  LaunchOptions options;
  options.name = "axpy_function";
  const LaunchReport r = LaunchFunction(options, dim3(2), dim3(32), 0, body);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(y.ToHost(), std::vector<float>(n, 5.f));
}

// The CUDA programming guide's definitions, lane by lane.
int64_t ShuffleRef(const std::vector<int64_t>& v, int lane_in_block, int kind, int arg, int width) {
  const int warp_base = lane_in_block / 32 * 32, lane = lane_in_block % 32;
  const int seg = lane / width * width;  // first lane of the lane's segment
  int src = lane;
  switch (kind) {
    case 0:  // __shfl_sync: srcLane modulo width, within the segment
      src = seg + (arg & (width - 1));
      break;
    case 1:  // up: the lower `delta` lanes of a segment keep their value
      src = lane % width < arg ? lane : lane - arg;
      break;
    case 2:  // down: lanes whose source is past the segment keep theirs
      src = lane % width + arg >= width ? lane : lane + arg;
      break;
    case 3:  // xor: a later segment's lane gives the lane its own value
      src = (lane ^ arg) >= seg + width ? lane : lane ^ arg;
      break;
  }
  return v[warp_base + src];
}

template <class T>
void CheckShuffles(void (*kernel)(const T*, T*, int, int, int), T scale, int threads,
                   std::vector<int> widths) {
  std::vector<int64_t> v(threads);
  std::vector<T> in(threads);
  for (int t = 0; t < threads; ++t) v[t] = static_cast<int64_t>(scale) * (t * 7 + 3), in[t] = v[t];
  DeviceBuffer<T> din(in, "in");
  for (int width : widths) {
    for (int src : {0, 5, 37, -1}) {
      for (int delta : {1, 3, 16}) {
        DeviceBuffer<T> out(threads * 4, "out");
        const LaunchReport r =
            Launch(kernel, dim3(1), dim3(threads), 0, din.get(), out.get(), src, delta, width);
        ASSERT_TRUE(r.ok()) << r.message;
        const std::vector<T> got = out.ToHost();
        for (int t = 0; t < threads; ++t) {
          for (int k = 0; k < 4; ++k) {
            ASSERT_EQ(static_cast<int64_t>(got[t * 4 + k]),
                      ShuffleRef(v, t, k, k == 0 ? src : delta, width))
                << "thread " << t << " shuffle " << k << " width " << width << " src " << src
                << " delta " << delta;
          }
        }
      }
    }
  }
}

TEST(Executor, ShufflesMatchTheProgrammingGuide) {
  CheckShuffles<int>(&emu_shuffles, 1, 64, {32, 16, 8, 4, 2, 1});  // two warps
}

TEST(Executor, SixtyFourBitShuffles) {
  CheckShuffles<long long>(&emu_shuffles64, (1ll << 40) + 1, 64, {32, 16, 8, 4, 2, 1});
}

// 48 threads: the second warp has 16 lanes; segments of up to 16 lanes never
// read a lane that does not exist.
TEST(Executor, ShufflesInAPartialWarp) {
  CheckShuffles<int>(&emu_shuffles, 1, 48, {16, 8, 4, 2, 1});
}

TEST(Executor, VotesMatchAndReduce) {
  const int threads = 64;
  std::vector<int> pred(threads);
  for (int t = 0; t < threads; ++t) pred[t] = (t * 5 + 1) % 3 == 0 ? 1 : (t % 7 == 0 ? 2 : 0);
  DeviceBuffer<int> dp(pred, "pred");
  int count = 0;
  for (int p : pred) count += p != 0;
  for (unsigned mask : {0xffffffffu, 0x0000ffffu, 0xaaaaaaaau}) {
    DeviceBuffer<unsigned> out(threads * 8, "out");
    const LaunchReport r = Launch(&emu_votes, dim3(1), dim3(threads), 0, dp.get(), out.get(), mask);
    ASSERT_TRUE(r.ok()) << r.message;
    const std::vector<unsigned> got = out.ToHost();
    for (int t = 0; t < threads; ++t) {
      const int base = t / 32 * 32, lane = t % 32;
      const unsigned* o = &got[t * 8];
      EXPECT_EQ(o[6], 0xffffffffu) << t;  // __activemask(): no lane has exited
      EXPECT_EQ(o[7], static_cast<unsigned>(count)) << t;
      if (!(mask >> lane & 1)) continue;
      unsigned ballot = 0, match = 0, sum = 0;
      int lo = INT32_MAX;
      for (int j = 0; j < 32; ++j) {
        if (!(mask >> j & 1)) continue;
        const int p = pred[base + j];
        ballot |= (p != 0 ? 1u : 0u) << j;
        match |= (p == pred[t] ? 1u : 0u) << j;
        sum += static_cast<unsigned>(p);
        lo = std::min(lo, p - 5);
      }
      EXPECT_EQ(o[0], ballot) << t;
      EXPECT_EQ(o[1], ballot != 0 ? 1u : 0u) << t;
      EXPECT_EQ(o[2], ballot == mask ? 1u : 0u) << t;
      EXPECT_EQ(o[3], match) << t;
      EXPECT_EQ(o[4], sum) << t;
      EXPECT_EQ(static_cast<int>(o[5]), lo) << t;
    }
  }
}

TEST(Executor, BlockReductionThroughSharedMemory) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (const auto& [rows, len, block, grid] : std::vector<std::tuple<int, int, int, int>>{
           {37, 1000, 256, 8}, {5, 40, 64, 5}, {3, 7, 128, 1}}) {
    std::vector<float> x(static_cast<size_t>(rows) * len);
    for (float& v : x) v = dist(rng);
    DeviceBuffer<float> dx(x, "x"), out(rows, "out");
    const LaunchReport r =
        Launch(&emu_block_sum, dim3(grid), dim3(block), 0, dx.get(), out.get(), rows, len);
    ASSERT_TRUE(r.ok()) << r.message;
    const std::vector<float> got = out.ToHost();
    for (int row = 0; row < rows; ++row) {
      double want = 0;
      for (int j = 0; j < len; ++j) want += x[row * len + j];
      // float partial sums of at most `len` terms of magnitude <= 1
      EXPECT_NEAR(got[row], want, 1e-6 * len) << "row " << row;
    }
  }
}

TEST(Executor, DynamicSharedMemory) {
  const int blocks = 4, threads = 96;
  std::vector<int> in(blocks * threads);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i * 3);
  DeviceBuffer<int> din(in, "in"), out(in.size(), "out");
  const LaunchReport r = Launch(&emu_dynamic_reverse, dim3(blocks), dim3(threads),
                                threads * sizeof(int), din.get(), out.get());
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<int> got = out.ToHost();
  for (int b = 0; b < blocks; ++b) {
    for (int t = 0; t < threads; ++t)
      ASSERT_EQ(got[b * threads + t], in[b * threads + threads - 1 - t]);
  }
}

TEST(Executor, SharedAndGlobalAtomics) {
  const int n = 5000, bins = 50;
  std::vector<int> in(n);
  std::vector<unsigned> want(bins, 0), zero(bins, 0);
  for (int i = 0; i < n; ++i) in[i] = (i * 37 + i / 11) % bins, ++want[in[i]];
  DeviceBuffer<int> din(in, "in");
  DeviceBuffer<unsigned> hist(zero, "hist");
  const LaunchReport r =
      Launch(&emu_histogram, dim3(4), dim3(128), 0, din.get(), n, hist.get(), bins);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(hist.ToHost(), want);
}

TEST(Executor, AlignedVectorAccesses) {
  const int n = 1024;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i) - 100.f;
  DeviceBuffer<float> din(in, "in"), out(n, "out");
  const LaunchReport r = Launch(&emu_scale_float4, dim3(2), dim3(64), 0, din.get(), out.get(), n);
  ASSERT_TRUE(r.ok()) << r.message;
  const std::vector<float> got = out.ToHost();
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], 2.f * in[i]);
}

float Bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Conversions inside kernels, against bit patterns worked out by hand.
TEST(Executor, HalfAndBFloat16InKernels) {
  struct Case {
    float in;
    uint16_t half, bf16;
  };
  const std::vector<Case> cases = {
      {1.f / 3.f, 0x3555, 0x3eab},         // 0x3eaaaaab: both round up
      {65504.f, 0x7bff, 0x4780},           // half's largest finite value
      {65520.f, 0x7c00, 0x4780},           // half's first value that rounds to inf
      {Bits(0x477fefff), 0x7bff, 0x4780},  // just below it
      {1e6f, 0x7c00, 0x4974},              // overflow (bf16: 0x49742400 rounds down)
      {-1e6f, 0xfc00, 0xc974},
      {Bits(0x33800000), 0x0001, 0x3380},  // 2^-24: half's smallest subnormal
      {Bits(0x33000000), 0x0000, 0x3300},  // 2^-25: a tie, to even (zero)
      {Bits(0x33000001), 0x0001, 0x3300},  // just above the tie
      {Bits(0x387fc000), 0x03ff, 0x3880},  // half's largest subnormal (bf16 rounds up)
      {1.f + 1.f / 2048, 0x3c00, 0x3f80},  // tie between 1 and 1+2^-10: to even
      {1.f + 3.f / 2048, 0x3c02, 0x3f80},  // tie between 1+2^-10 and 1+2^-9: to even
      {Bits(0x3f808000), 0x3c04, 0x3f80},  // bf16 tie at 1 + 2^-8: to even (down)
      {Bits(0x3f818000), 0x3c0c, 0x3f82},  // bf16 tie at 1 + 3*2^-8: to even (up)
      {-0.f, 0x8000, 0x8000},
      {Bits(0x7f800000), 0x7c00, 0x7f80},
      {Bits(0x7fc00001), 0x7fff, 0x7fff},  // NaN: canonical
  };
  const int n = static_cast<int>(cases.size());
  std::vector<float> in;
  for (const Case& c : cases) in.push_back(c.in);
  DeviceBuffer<float> din(in, "in"), back(n, "back");
  DeviceBuffer<unsigned short> bits(n, "bits");
  ASSERT_TRUE(
      Launch(&emu_to_half, dim3(1), dim3(32), 0, din.get(), bits.get(), back.get(), n).ok());
  std::vector<unsigned short> got = bits.ToHost();
  std::vector<float> widened = back.ToHost();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(got[i], cases[i].half) << "half of " << cases[i].in << " (case " << i << ")";
    // Widening is exact: the half's value, computed here from its fields.
    const int e = got[i] >> 10 & 0x1f, m = got[i] & 0x3ff;
    const float mag = e == 0x1f ? (m ? NAN : INFINITY)
                      : e == 0  ? std::ldexp(static_cast<float>(m), -24)
                                : std::ldexp(static_cast<float>(1024 + m), e - 25);
    const float want = got[i] & 0x8000 ? -mag : mag;
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(widened[i]));
    } else {
      EXPECT_EQ(widened[i], want) << "case " << i;
      EXPECT_EQ(std::signbit(widened[i]), std::signbit(want)) << "case " << i;
    }
  }
  ASSERT_TRUE(
      Launch(&emu_to_bfloat16, dim3(1), dim3(32), 0, din.get(), bits.get(), back.get(), n).ok());
  got = bits.ToHost();
  widened = back.ToHost();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(got[i], cases[i].bf16) << "bf16 of " << cases[i].in << " (case " << i << ")";
    uint32_t u;
    std::memcpy(&u, &widened[i], 4);
    EXPECT_EQ(u, static_cast<uint32_t>(got[i]) << 16) << "bf16 widening is the 16-bit shift";
  }
}

TEST(Executor, PackedHalfVectors) {
  const int n = 64;
  std::vector<unsigned short> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<unsigned short>(0x3c00 + i * 0x11);  // 1.0 and up
  DeviceBuffer<unsigned short> din(in, "in"), out(n, "out");
  ASSERT_TRUE(Launch(&emu_half_vector, dim3(1), dim3(8), 0, din.get(), out.get(), n).ok());
  const std::vector<unsigned short> got = out.ToHost();
  // Doubling adds one to the exponent field for these normal values.
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], in[i] + 0x0400) << i;
}

// ---- Each bug is reported, precisely ---------------------------------------

TEST(ExecutorErrors, BarrierInsideABranch) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r = Launch(&emu_barrier_in_branch, dim3(1), dim3(32), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kBarrierDivergence);
  EXPECT_THAT(r.message, HasSubstr("barrier divergence: __syncthreads() at test_kernels.cu.cc:"));
  EXPECT_THAT(r.message, HasSubstr("is reached by 16 of the block's 32 threads; thread (16,0,0) "
                                   "exited without reaching it in kernel emu_barrier_in_branch, "
                                   "block (0,0,0), thread (0,0,0)"));
  // Accepted when exited threads count as arrived (what GPUs do).
  LaunchOptions lenient;
  lenient.strict_exit = false;
  EXPECT_TRUE(Launch(lenient, &emu_barrier_in_branch, dim3(1), dim3(32), 0, out.get()).ok());
}

TEST(ExecutorErrors, BarriersAtDifferentSites) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r = Launch(&emu_barrier_two_sites, dim3(2), dim3(64), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kBarrierDivergence);
  EXPECT_THAT(r.message, HasSubstr("threads wait at different barriers: 16 at __syncthreads() at "
                                   "test_kernels.cu.cc:"));
  EXPECT_THAT(r.message,
              HasSubstr("thread (16,0,0) waits at __syncthreads() at test_kernels.cu.cc:"));
}

TEST(ExecutorErrors, ReadOnePastTheEnd) {
  const int n = 100;
  DeviceBuffer<float> in(std::vector<float>(n, 1.f), "in"), out(n, "out");
  const LaunchReport r = Launch(&emu_read_past_end, dim3(1), dim3(128), 0, in.get(), out.get(), n);
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kGlobalOutOfBounds);
  EXPECT_EQ(r.address, reinterpret_cast<uint64_t>(in.get() + n));
  EXPECT_EQ(r.size, 4u);
  EXPECT_EQ(r.thread.x, 99u);
  EXPECT_THAT(r.message, HasSubstr("out-of-bounds global access: global read of 4 bytes at 0x"));
  EXPECT_THAT(r.message, HasSubstr(", 0 bytes after the end of buffer 'in' (400 bytes at 0x"));
  EXPECT_THAT(r.message, HasSubstr("in kernel emu_read_past_end, block (0,0,0), thread (99,0,0)"));
}

TEST(ExecutorErrors, WriteOnePastTheEnd) {
  const int n = 300;
  DeviceBuffer<float> out(n, "out");
  const LaunchReport r = Launch(&emu_write_past_end, dim3(2), dim3(128), 0, out.get(), n);
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kGlobalOutOfBounds);
  EXPECT_EQ(r.address, reinterpret_cast<uint64_t>(out.get() + n));
  // Element 300 is the third iteration of thread 44 of block 0 (stride 256).
  EXPECT_EQ(r.block.x, 0u);
  EXPECT_EQ(r.thread.x, 44u);
  EXPECT_THAT(r.message, HasSubstr("global write of 4 bytes at 0x"));
  EXPECT_THAT(r.message, HasSubstr("0 bytes after the end of buffer 'out' (1200 bytes at 0x"));
}

TEST(ExecutorErrors, MisalignedVectorLoad) {
  DeviceBuffer<float> in(std::vector<float>(256, 1.f), "in"), out(32, "out");
  const LaunchReport r = Launch(&emu_misaligned_float4, dim3(1), dim3(32), 0, in.get(), out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kMisalignedAccess);
  EXPECT_EQ(r.address, reinterpret_cast<uint64_t>(in.get() + 1));
  EXPECT_THAT(r.message, HasSubstr("of type 'const struct float4', which needs 16-byte alignment "
                                   "(address % 16 = 4), at test_kernels.cu.cc:"));
  EXPECT_THAT(r.message, HasSubstr("thread (0,0,0)"));
}

TEST(ExecutorErrors, ShuffleMaskOmitsACaller) {
  DeviceBuffer<int> out(32, "out");
  const LaunchReport r = Launch(&emu_shuffle_mask_omits_caller, dim3(1), dim3(32), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kInvalidWarpMask);
  EXPECT_THAT(r.message, HasSubstr("lane 16 of warp 0 calls __shfl_sync with mask 0x0000ffff, "
                                   "which does not include it, at test_kernels.cu.cc:"));
  EXPECT_EQ(r.thread.x, 16u);
}

TEST(ExecutorErrors, ShuffleWithAnExitedLane) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r = Launch(&emu_shuffle_lane_exits, dim3(1), dim3(64), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kWarpDivergence);
  EXPECT_THAT(r.message, HasSubstr("__shfl_xor_sync(mask 0xffffffff) at test_kernels.cu.cc:"));
  EXPECT_THAT(r.message, HasSubstr("by lane 0 of warp 0 cannot complete: lane 16 (thread "
                                   "(16,0,0)) has exited"));
  LaunchOptions lenient;
  lenient.strict_exit = false;
  const LaunchReport ok = Launch(lenient, &emu_shuffle_lane_exits, dim3(1), dim3(64), 0, out.get());
  ASSERT_TRUE(ok.ok()) << ok.message;
  const std::vector<int> got = out.ToHost();
  for (int t = 0; t < 64; ++t) {
    if (t % 32 < 16) {
      EXPECT_EQ(got[t], t ^ 1);
    }
  }
}

TEST(ExecutorErrors, MissingBarrierInABlockReduction) {
  std::vector<float> x(4 * 256, 1.f);
  DeviceBuffer<float> dx(x, "x"), out(4, "out");
  // The first row reads a per-warp partial its writer has not written yet.
  LaunchReport r =
      Launch(&emu_block_sum_missing_barrier, dim3(1), dim3(256), 0, dx.get(), out.get(), 4, 256);
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kUninitializedShared);
  EXPECT_THAT(r.message, HasSubstr("shared read of 4 bytes at static __shared__ offset"));
  EXPECT_THAT(r.message, HasSubstr("which this block has not written"));
  EXPECT_EQ(r.thread.x, 1u);
  // Without that check the race itself is the report: warp 1's lane 0
  // writes the partial that thread 1 already read, with no barrier between.
  LaunchOptions no_init;
  no_init.check_uninitialized_shared = false;
  r = Launch(no_init, &emu_block_sum_missing_barrier, dim3(1), dim3(256), 0, dx.get(), out.get(), 4,
             256);
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kSharedRace);
  EXPECT_THAT(r.message, HasSubstr("write-after-read hazard at static __shared__ offset"));
  EXPECT_THAT(r.message, HasSubstr("a write of 4 bytes by this thread, and a read by thread "
                                   "(1,0,0) with no __syncthreads() between"));
  EXPECT_EQ(r.thread.x, 32u);
}

TEST(ExecutorErrors, DynamicSharedPastTheLaunchSize) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r =
      Launch(&emu_shared_past_dynamic, dim3(1), dim3(64), 64 * sizeof(int), out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kSharedOutOfBounds);
  EXPECT_THAT(r.message, HasSubstr("shared read of 4 bytes at dynamic shared memory offset 256, "
                                   "past its 256 bytes"));
  EXPECT_EQ(r.thread.x, 63u);
}

TEST(ExecutorErrors, UninitializedSharedRead) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r = Launch(&emu_uninitialized_shared, dim3(1), dim3(64), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kUninitializedShared);
  EXPECT_EQ(r.thread.x, 32u);
}

TEST(ExecutorErrors, FailedAssert) {
  DeviceBuffer<int> out(64, "out");
  const LaunchReport r = Launch(&emu_assert_fails, dim3(1), dim3(64), 0, out.get());
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kTrap);
  EXPECT_THAT(r.message, HasSubstr("assertion failed: threadIdx.x != 5 (in void "
                                   "emu_assert_fails(int*)) at test_kernels.cu.cc:"));
  EXPECT_EQ(r.thread.x, 5u);
}

TEST(ExecutorErrors, StackOverflowIsAReportNotACrash) {
  DeviceBuffer<int> out(4, "out");
  LaunchOptions small;
  small.stack_bytes = 16 << 10;
  const LaunchReport r = Launch(small, &emu_deep_recursion, dim3(1), dim3(4), 0, out.get(), 100000);
  Show(r);
  EXPECT_TRUE(r.kind == ErrorKind::kFault || r.kind == ErrorKind::kGlobalOutOfBounds) << r.message;
  EXPECT_THAT(r.message, HasSubstr("in the guard page of the stack of thread (0,0,0)"));
}

TEST(ExecutorErrors, InvalidConfigurations) {
  DeviceBuffer<int> out(64, "out");
  LaunchReport r = Launch(&emu_axpy, dim3(1), dim3(2048), 0, nullptr, nullptr, 1.f, 0);
  Show(r);
  EXPECT_EQ(r.kind, ErrorKind::kInvalidLaunch);
  EXPECT_THAT(r.message, HasSubstr("block (2048,1,1) has 2048 threads; CUDA allows 1024"));
  r = Launch(&emu_dynamic_reverse, dim3(1), dim3(32), 300 << 10, nullptr, nullptr);
  EXPECT_EQ(r.kind, ErrorKind::kInvalidLaunch);
  r = Launch(&emu_axpy, dim3(0), dim3(32), 0, nullptr, nullptr, 1.f, 0);
  EXPECT_EQ(r.kind, ErrorKind::kInvalidLaunch);
}

// A failed launch leaves nothing behind: the next one runs normally, and
// shared memory starts poisoned again rather than with the last block's data.
TEST(ExecutorErrors, RecoversAfterAFailedLaunch) {
  DeviceBuffer<int> out(64, "out");
  ASSERT_FALSE(Launch(&emu_barrier_in_branch, dim3(1), dim3(32), 0, out.get()).ok());
  ASSERT_FALSE(Launch(&emu_shuffle_mask_omits_caller, dim3(1), dim3(32), 0, out.get()).ok());
  std::vector<float> x(2 * 64, 1.f);
  DeviceBuffer<float> dx(x, "x"), sums(2, "sums");
  const LaunchReport r = Launch(&emu_block_sum, dim3(2), dim3(64), 0, dx.get(), sums.get(), 2, 64);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(sums.ToHost(), (std::vector<float>{64.f, 64.f}));
}

}  // namespace
}  // namespace sinter::cuda_emu
