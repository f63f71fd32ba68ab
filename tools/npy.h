// Reading and writing NumPy .npy files (format version 1.0/2.0, little-endian,
// C order): the format people already have for tensors.
#ifndef SINTER_TOOLS_NPY_H_
#define SINTER_TOOLS_NPY_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sinter/sinter.h"

namespace sinter::tools {

struct NpyArray {
  sinter_dtype dtype = SINTER_F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

inline const char* NpyDescr(sinter_dtype d) {
  switch (d) {
    case SINTER_F32:
      return "<f4";
    case SINTER_F16:
      return "<f2";
    case SINTER_F64:
      return "<f8";
    case SINTER_I64:
      return "<i8";
    case SINTER_I32:
      return "<i4";
    case SINTER_I8:
      return "|i1";
    case SINTER_U8:
      return "|u1";
    case SINTER_BOOL:
      return "|b1";
    default:
      return nullptr;
  }
}

// Returns an empty string on success, else what is wrong.
inline std::string ReadNpy(const std::string& path, NpyArray* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot open '" + path + "'";
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return "'" + path + "' is not a .npy file";
  size_t hlen, hstart;
  if (bytes[6] == 1) {
    hlen = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    hstart = 10;
  } else {
    if (bytes.size() < 12) return "'" + path + "' is truncated";
    hlen = 0;
    for (int i = 0; i < 4; ++i)
      hlen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    hstart = 12;
  }
  if (hstart + hlen > bytes.size()) return "'" + path + "' is truncated";
  std::string h = bytes.substr(hstart, hlen);
  auto field = [&](const std::string& key) -> std::string {
    size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) return "";
    size_t c = h.find(':', k);
    return c == std::string::npos ? "" : h.substr(c + 1);
  };
  std::string descr = field("descr");
  size_t q1 = descr.find('\''), q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) return "'" + path + "': no dtype";
  descr = descr.substr(q1 + 1, q2 - q1 - 1);
  bool found = false;
  for (int d = 0; d <= SINTER_BOOL; ++d) {
    const char* n = NpyDescr(static_cast<sinter_dtype>(d));
    if (n != nullptr && descr == n) {
      out->dtype = static_cast<sinter_dtype>(d);
      found = true;
    }
  }
  if (!found) return "'" + path + "': unsupported dtype " + descr;
  if (field("fortran_order").find("True") < field("fortran_order").find(',')) {
    return "'" + path + "': Fortran order is not supported";
  }
  std::string shape = field("shape");
  size_t p1 = shape.find('('), p2 = shape.find(')');
  if (p1 == std::string::npos || p2 == std::string::npos) return "'" + path + "': no shape";
  std::stringstream ss(shape.substr(p1 + 1, p2 - p1 - 1));
  std::string item;
  out->shape.clear();
  int64_t n = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    int64_t d = std::stoll(item);
    if (d < 0) return "'" + path + "': negative dimension";
    out->shape.push_back(d);
    n *= d;
  }
  size_t nbytes = static_cast<size_t>(n) * sinter_dtype_size(out->dtype);
  if (hstart + hlen + nbytes != bytes.size())
    return "'" + path + "': data size does not match its shape";
  out->data.assign(bytes.begin() + hstart + hlen, bytes.end());
  return "";
}

inline std::string WriteNpy(const std::string& path, sinter_dtype dtype,
                            const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
  std::string h =
      "{'descr': '" + std::string(NpyDescr(dtype)) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    h += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  h += "), }";
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return "cannot write '" + path + "'";
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(h.size());
  char lb[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
  f.write(lb, 2);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
  return f ? "" : "write to '" + path + "' failed";
}

}  // namespace sinter::tools

#endif  // SINTER_TOOLS_NPY_H_
