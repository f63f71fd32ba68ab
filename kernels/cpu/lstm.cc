// nn.LSTM inference. Per layer and direction, one GEMM projects the whole
// input sequence, G = X W_ih^T + (b_ih + b_hh); then each step accumulates
// h_{t-1} W_hh^T into that step's rows of G and the cell update reads them.
// h_{t-1} is read back from where the step wrote its output, so no separate
// hidden state is kept. Layers ping-pong between two scratch buffers laid out
// like the output (batch_first or not), which keeps row indexing uniform.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/internal_gemm.h"
#include "kernels/cpu/internal_simd.h"
#include "kernels/cpu/kernels.h"

namespace sinter::kernels::cpu {
namespace {

using namespace internal;

// Scratch layout, in floats.
struct Plan {
  int64_t gates, cell, bias, buf;  // sizes
  explicit Plan(const LstmShape& s) {
    const int64_t dirs = s.bidirectional ? 2 : 1;
    gates = Align16(s.seq * s.batch * 4 * s.hidden);
    cell = Align16(s.batch * s.hidden);
    bias = Align16(4 * s.hidden);
    buf = s.layers > 1 ? Align16(s.seq * s.batch * dirs * s.hidden) : 0;
  }
  int64_t Total() const { return gates + cell + bias + 2 * buf; }
};

// Cell update for `batch` rows: gates rows g (stride ldg: i, f, g, o blocks
// of h floats), state c (dense), output h (stride ldh).
SINTER_MULTIVERSION void Cells(const float* g, int64_t ldg, float* c, float* h, int64_t ldh,
                               int64_t batch, int64_t hidden) {
  for (int64_t b = 0; b < batch; ++b, g += ldg, c += hidden, h += ldh) {
    for (int64_t i = 0; i < hidden; i += 8) {
      const int64_t n = std::min<int64_t>(8, hidden - i);
      V8 ig = Sigmoid(LoadPart(g + i, n)), fg = Sigmoid(LoadPart(g + hidden + i, n));
      V8 gg = Tanh(LoadPart(g + 2 * hidden + i, n)), og = Sigmoid(LoadPart(g + 3 * hidden + i, n));
      V8 cn = fg * LoadPart(c + i, n) + ig * gg;
      StorePart(c + i, cn, n);
      StorePart(h + i, og * Tanh(cn), n);
    }
  }
}

}  // namespace

int64_t LstmScratchBytes(const LstmShape& s) { return Plan(s).Total() * 4; }

void LstmF32(const LstmShape& s, const float* x, const float* h0, const float* c0,
             const float* const* weights, float* y, float* hn, float* cn, void* scratch,
             Parallel* par) {
  const int64_t dirs = s.bidirectional ? 2 : 1, per = s.has_biases ? 4 : 2, hid = s.hidden;
  const int64_t state = s.batch * hid, out_w = dirs * hid, g_w = 4 * hid;
  const Plan plan(s);
  float* gates = static_cast<float*>(scratch);
  float* cell = gates + plan.gates;
  float* bias = cell + plan.cell;
  float* bufs[2] = {bias + plan.bias, bias + plan.bias + plan.buf};
  // Row of (time t, batch 0) and the row step between batch entries.
  const int64_t rstep = s.batch_first ? s.seq : 1;
  auto row = [&](int64_t t) { return s.batch_first ? t : t * s.batch; };

  for (int64_t l = 0; l < s.layers; ++l) {
    const float* in = l == 0 ? x : bufs[(l - 1) % 2];
    const int64_t in_w = l == 0 ? s.input : out_w;
    float* out = l == s.layers - 1 ? y : bufs[l % 2];
    for (int64_t d = 0; d < dirs; ++d) {
      const int64_t idx = l * dirs + d;
      const float* const* w = weights + idx * per;
      GemmEpilogue ep;
      if (s.has_biases) {
        for (int64_t j = 0; j < g_w; ++j) bias[j] = w[2][j] + w[3][j];
        ep.bias = bias;
      }
      Gemm(s.seq * s.batch, g_w, in_w, in, in_w, w[0], in_w, true, gates, g_w, ep, par);

      if (c0) {
        std::memcpy(cell, c0 + idx * state, static_cast<size_t>(state) * sizeof(float));
      } else {
        std::fill(cell, cell + state, 0.f);
      }
      const float* h_prev = h0 ? h0 + idx * state : nullptr;
      int64_t ld_prev = hid;
      GemmEpilogue acc;
      acc.accumulate = true;
      for (int64_t step = 0; step < s.seq; ++step) {
        const int64_t t = d == 0 ? step : s.seq - 1 - step;
        float* g = gates + row(t) * g_w;
        if (h_prev)
          Gemm(s.batch, g_w, hid, h_prev, ld_prev, w[1], hid, true, g, rstep * g_w, acc, par);
        float* h = out + row(t) * out_w + d * hid;
        Cells(g, rstep * g_w, cell, h, rstep * out_w, s.batch, hid);
        h_prev = h;
        ld_prev = rstep * out_w;
      }
      if (hn) {
        for (int64_t b = 0; b < s.batch; ++b) {
          float* dst = hn + idx * state + b * hid;
          if (h_prev) {
            std::memcpy(dst, h_prev + b * ld_prev, static_cast<size_t>(hid) * sizeof(float));
          } else {
            std::fill(dst, dst + hid, 0.f);
          }
        }
      }
      if (cn) std::memcpy(cn + idx * state, cell, static_cast<size_t>(state) * sizeof(float));
    }
  }
}

}  // namespace sinter::kernels::cpu
