#include <array>

#include "runtime/format/file.h"

namespace sinter::format {
namespace {

// Slicing-by-4 tables: weights regions are hundreds of MB, so the checksum
// must run near memory bandwidth rather than a byte at a time.
struct Tables {
  std::array<std::array<uint32_t, 256>, 4> t;
  constexpr Tables() : t() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 4; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr Tables kTables;

}  // namespace

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  while (size >= 4) {
    uint32_t v =
        crc ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    crc = kTables.t[3][v & 0xFF] ^ kTables.t[2][(v >> 8) & 0xFF] ^ kTables.t[1][(v >> 16) & 0xFF] ^
          kTables.t[0][v >> 24];
    p += 4;
    size -= 4;
  }
  while (size--) crc = kTables.t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

}  // namespace sinter::format
