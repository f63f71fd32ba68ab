// nn.GRU inference, laid out as the LSTM (kernels/cpu/lstm.cc): per layer
// and direction one GEMM projects the whole input sequence, G = X W_ih^T +
// b_ih; then each step computes h_{t-1} W_hh^T + b_hh into a row block of
// its own (the new gate needs its hidden part apart: n = tanh(G_n + r *
// (W_hn h + b_hn))) and the cell update reads both. h_{t-1} is read back from
// where the step wrote its output; layers ping-pong between two scratch
// buffers laid out like the output.
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
  int64_t gates, hidden_gates, zeros, buf;  // sizes
  explicit Plan(const GruShape& s) {
    const int64_t dirs = s.bidirectional ? 2 : 1;
    gates = Align16(s.seq * s.batch * 3 * s.hidden);
    hidden_gates = Align16(s.batch * 3 * s.hidden);
    zeros = Align16(s.batch * s.hidden);
    buf = s.layers > 1 ? Align16(s.seq * s.batch * dirs * s.hidden) : 0;
  }
  int64_t Total() const { return gates + hidden_gates + zeros + 2 * buf; }
};

// Cell update for `batch` rows: input gates g (stride ldg: r, z, n blocks of
// `hidden` floats), hidden gates hh (dense, same blocks), previous state
// hp (stride ldp), new state h (stride ldh). PyTorch's
//   h' = (1 - z) n + z h = n + z (h - n).
SINTER_MULTIVERSION void Cells(const float* g, int64_t ldg, const float* hh, const float* hp,
                               int64_t ldp, float* h, int64_t ldh, int64_t batch, int64_t hidden) {
  for (int64_t b = 0; b < batch; ++b, g += ldg, hh += 3 * hidden, hp += ldp, h += ldh) {
    for (int64_t i = 0; i < hidden; i += 8) {
      const int64_t n = std::min<int64_t>(8, hidden - i);
      const V8 r = Sigmoid(LoadPart(g + i, n) + LoadPart(hh + i, n));
      const V8 z = Sigmoid(LoadPart(g + hidden + i, n) + LoadPart(hh + hidden + i, n));
      const V8 nn = Tanh(LoadPart(g + 2 * hidden + i, n) + r * LoadPart(hh + 2 * hidden + i, n));
      StorePart(h + i, nn + z * (LoadPart(hp + i, n) - nn), n);
    }
  }
}

}  // namespace

int64_t GruScratchBytes(const GruShape& s) { return Plan(s).Total() * 4; }

void GruF32(const GruShape& s, const float* x, const float* h0, const float* const* weights,
            float* y, float* hn, void* scratch, Parallel* par) {
  const int64_t dirs = s.bidirectional ? 2 : 1, per = s.has_biases ? 4 : 2, hid = s.hidden;
  const int64_t state = s.batch * hid, out_w = dirs * hid, g_w = 3 * hid;
  const Plan plan(s);
  float* gates = static_cast<float*>(scratch);
  float* hh = gates + plan.gates;
  float* zeros = hh + plan.hidden_gates;
  float* bufs[2] = {zeros + plan.zeros, zeros + plan.zeros + plan.buf};
  std::fill(zeros, zeros + state, 0.f);
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
      GemmEpilogue ep_ih, ep_hh;
      if (s.has_biases) {
        ep_ih.bias = w[2];
        ep_hh.bias = w[3];
      }
      Gemm(s.seq * s.batch, g_w, in_w, in, in_w, w[0], in_w, true, gates, g_w, ep_ih, par);
      const float* h_prev = h0 ? h0 + idx * state : zeros;
      int64_t ld_prev = hid;
      for (int64_t step = 0; step < s.seq; ++step) {
        const int64_t t = d == 0 ? step : s.seq - 1 - step;
        Gemm(s.batch, g_w, hid, h_prev, ld_prev, w[1], hid, true, hh, g_w, ep_hh, par);
        float* h = out + row(t) * out_w + d * hid;
        Cells(gates + row(t) * g_w, rstep * g_w, hh, h_prev, ld_prev, h, rstep * out_w, s.batch,
              hid);
        h_prev = h;
        ld_prev = rstep * out_w;
      }
      if (hn) {
        for (int64_t b = 0; b < s.batch; ++b) {
          std::memcpy(hn + idx * state + b * hid, h_prev + b * ld_prev,
                      static_cast<size_t>(hid) * sizeof(float));
        }
      }
    }
  }
}

}  // namespace sinter::kernels::cpu
