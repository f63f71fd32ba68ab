// The fixed-layout header at the start of every sinter artifact, and the
// checksum that guards it and the schema region. Shared by the writer
// (codegen/) and the reader (runtime/).
#ifndef SINTER_RUNTIME_FORMAT_FILE_H_
#define SINTER_RUNTIME_FORMAT_FILE_H_

#include <cstddef>
#include <cstdint>

namespace sinter::format {

inline constexpr char kMagic[8] = {'\x89', 'S', 'N', 'T', 'R', '\r', '\n', '\x1a'};
// Major version: readers refuse any other. Bump on incompatible schema changes.
// 2: kernels reference code objects (Kernel.code, Model.code_objects)
// instead of string attributes; attributes are the op schema's only.
// 3: fused kernels' bodies are typed Body tables (Kernel.bodies) instead of
// program text in attributes.
inline constexpr uint32_t kFormatVersion = 3;
// No tensor, and no arena, may be larger than this (64 TiB): the loader
// refuses more as damage, and the compiler refuses a model that would need it.
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 46;
// Constant segments are aligned so kernels can use them in place from a
// memory-mapped file (and with aligned vector loads).
inline constexpr uint64_t kSegmentAlignment = 64;

// Little-endian on disk; sinter targets little-endian machines only.
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;   // sizeof(FileHeader)
  uint64_t schema_offset;  // FlatBuffer region
  uint64_t schema_bytes;
  uint64_t data_offset;  // constants region, kSegmentAlignment-aligned
  uint64_t data_bytes;
  uint32_t schema_crc32;  // CRC-32 of the schema region
  uint32_t data_crc32;    // CRC-32 of the data region (checked on request)
  uint32_t flags;         // reserved, 0
  uint32_t header_crc32;  // CRC-32 of the bytes above
};
static_assert(sizeof(FileHeader) == 64, "FileHeader layout is part of the format");

// CRC-32 (IEEE 802.3, the zlib polynomial), table-driven.
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace sinter::format

#endif  // SINTER_RUNTIME_FORMAT_FILE_H_
