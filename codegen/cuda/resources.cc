// ptxas's verbose report and the occupancy calculator (see resources.h).
#include "codegen/cuda/resources.h"

#include <algorithm>
#include <cstdlib>

namespace sinter::codegen::cuda {
namespace {

// The number before `what` in `line` ("10 registers", "256 bytes smem"), or
// -1 when `what` is not there.
int64_t NumberBefore(std::string_view line, std::string_view what) {
  const size_t at = line.find(what);
  if (at == std::string_view::npos || at < 2) return -1;
  size_t b = at - 1;  // the space before `what`
  while (b > 0 && line[b - 1] >= '0' && line[b - 1] <= '9') --b;
  if (b == at - 1) return -1;
  return std::strtoll(std::string(line.substr(b, at - 1 - b)).c_str(), nullptr, 10);
}

// The quoted name after `prefix` in `line` ("entry function 'k'").
std::string Quoted(std::string_view line, std::string_view prefix) {
  size_t at = line.find(prefix);
  if (at == std::string_view::npos) return "";
  at = line.find('\'', at + prefix.size());
  if (at == std::string_view::npos) return "";
  const size_t end = line.find('\'', at + 1);
  return end == std::string_view::npos ? "" : std::string(line.substr(at + 1, end - at - 1));
}

int64_t RoundUp(int64_t n, int64_t unit) { return (n + unit - 1) / unit * unit; }

}  // namespace

std::vector<KernelResources> ParsePtxasReport(std::string_view log, std::string* rest) {
  std::vector<KernelResources> out;
  KernelResources* cur = nullptr;
  size_t b = 0;
  while (b < log.size()) {
    size_t e = log.find('\n', b);
    if (e == std::string_view::npos) e = log.size();
    const std::string_view line = log.substr(b, e - b);
    b = e + 1;
    if (line.rfind("ptxas", 0) != 0) {
      if (rest != nullptr && !line.empty()) {
        if (!rest->empty()) rest->push_back('\n');
        rest->append(line);
      }
      continue;
    }
    // "ptxas info    : Compiling entry function 'k' for 'sm_90'"
    if (line.find("Compiling entry function") != std::string_view::npos) {
      out.emplace_back();
      cur = &out.back();
      cur->kernel = Quoted(line, "entry function");
      cur->arch = Quoted(line, " for ");
      continue;
    }
    if (cur == nullptr) continue;
    // "ptxas . 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads"
    if (int64_t v = NumberBefore(line, "bytes stack frame"); v >= 0) cur->stack_bytes = v;
    if (int64_t v = NumberBefore(line, "bytes spill stores"); v >= 0) cur->spill_store_bytes = v;
    if (int64_t v = NumberBefore(line, "bytes spill loads"); v >= 0) cur->spill_load_bytes = v;
    // "ptxas info    : Used 10 registers, used 1 barriers, 256 bytes smem"
    if (int64_t v = NumberBefore(line, "registers"); v >= 0) cur->registers = static_cast<int>(v);
    if (int64_t v = NumberBefore(line, "barriers"); v >= 0) cur->barriers = static_cast<int>(v);
    if (int64_t v = NumberBefore(line, "bytes smem"); v >= 0) cur->shared_bytes = v;
  }
  return out;
}

const SmLimits* FindSmLimits(std::string_view arch) {
  // arch, threads, warps, blocks, registers, shared per SM, shared per block
  static constexpr SmLimits kTable[] = {
      {75, 1024, 32, 16, 65536, 64 * 1024, 64 * 1024},
      {80, 2048, 64, 32, 65536, 164 * 1024, 163 * 1024},
      {86, 1536, 48, 16, 65536, 100 * 1024, 99 * 1024},
      {87, 2048, 64, 32, 65536, 164 * 1024, 163 * 1024},
      {89, 1536, 48, 24, 65536, 100 * 1024, 99 * 1024},
      {90, 2048, 64, 32, 65536, 228 * 1024, 227 * 1024},
  };
  if (arch.rfind("sm_", 0) != 0) return nullptr;
  const int v = std::atoi(std::string(arch.substr(3)).c_str());
  for (const SmLimits& l : kTable)
    if (l.arch == v) return &l;
  return nullptr;
}

Occupancy ComputeOccupancy(const KernelResources& r, int threads_per_block, int64_t dynamic_shared,
                           const SmLimits& sm) {
  Occupancy o;
  if (threads_per_block <= 0 || threads_per_block > 1024) {
    o.limiter = "threads";
    return o;
  }
  const int warps = (threads_per_block + 31) / 32;
  auto limit = [&](int blocks, const char* why) {
    if (o.limiter.empty() || blocks < o.blocks_per_sm) {
      o.blocks_per_sm = blocks;
      o.limiter = why;
    }
  };
  limit(sm.max_blocks, "blocks");
  limit(sm.max_warps / warps, "threads");
  if (r.registers > 0) {
    // Registers are allocated per warp in units of 256.
    const int64_t per_warp = RoundUp(int64_t{r.registers} * 32, 256);
    limit(static_cast<int>(sm.registers / per_warp) / warps, "registers");
  }
  const int64_t shared = r.shared_bytes + dynamic_shared;
  if (shared > sm.max_shared_block) {
    limit(0, "shared memory");
  } else {
    // 1 KiB of every block's shared memory is the system's; 128-byte granules.
    const int64_t per_block = RoundUp(shared + 1024, 128);
    limit(static_cast<int>(sm.shared_bytes / per_block), "shared memory");
  }
  o.warps_per_sm = o.blocks_per_sm * warps;
  o.fraction = static_cast<double>(o.warps_per_sm) / sm.max_warps;
  return o;
}

}  // namespace sinter::codegen::cuda
