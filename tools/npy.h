// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0,
// little-endian, C order): the format people already have for tensors.
//
// The reader takes hostile files: it opens without blocking (a FIFO or a
// device is refused before anything is read), reads only a regular file's
// own size, parses the header without exceptions, and checks the shape's
// element count for overflow against the bytes the file really has. Errors
// come back as a message, never as an exception.
//
// NumPy has no bfloat16: a bf16 tensor is written as f32 (exact) and read
// from an f32 file by rounding to nearest even, so that sinter-run serves
// models compiled with `--io-precision storage --precision bf16`.
#ifndef SINTER_TOOLS_NPY_H_
#define SINTER_TOOLS_NPY_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sinter/sinter.h"

namespace sinter::tools {

struct NpyArray {
  sinter_dtype dtype = SINTER_F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// The .npy descriptor of a dtype; null for bf16 (see the banner).
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
    case SINTER_BF16:
      return nullptr;
  }
  return nullptr;
}

namespace npy_internal {

// The whole of a regular file, at most `limit` bytes; "" on success.
inline std::string ReadRegularFile(const std::string& path, size_t limit, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return "cannot open '" + path + "': " + std::strerror(errno);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return "'" + path + "' is not a regular file";
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    ::close(fd);
    return "'" + path + "' has " + std::to_string(st.st_size) + " bytes, more than the " +
           std::to_string(limit) + " this tool reads";
  }
  try {
    out->resize(static_cast<size_t>(st.st_size));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return "out of memory reading '" + path + "' (" + std::to_string(st.st_size) + " bytes)";
  }
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::read(fd, out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return "cannot read '" + path + "'";
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return "";
}

// The text after `'key':` in a header dictionary, or "" when absent.
inline std::string_view Field(std::string_view header, std::string_view key) {
  std::string quoted(1, '\'');
  quoted.append(key).push_back('\'');
  size_t k = header.find(quoted);
  if (k == std::string_view::npos) return {};
  size_t c = header.find(':', k + quoted.size());
  return c == std::string_view::npos ? std::string_view() : header.substr(c + 1);
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace npy_internal

// Parses the bytes of a .npy file named `name` (for messages); returns an
// empty string on success, else what is wrong. (tests/fuzz/npy_fuzz.cc feeds
// it hostile bytes.)
inline std::string ParseNpy(std::string_view bytes, std::string_view name, NpyArray* out) {
  using namespace npy_internal;
  // (Appended piece by piece: GCC 12 warns falsely on "'" + std::string.)
  auto bad = [&](const std::string& what) {
    std::string m(1, '\'');
    m.append(name).append("': ").append(what);
    return m;
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return bad("not a .npy file");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = static_cast<uint8_t>(bytes[8]) | static_cast<size_t>(static_cast<uint8_t>(bytes[9]))
                                                << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    for (int i = 0; i < 4; ++i)
      hlen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    hstart = 12;
  } else {
    return bad("unsupported .npy format version " + std::to_string(major));
  }
  if (hlen > bytes.size() - hstart) return bad("truncated header");
  const std::string_view h(bytes.data() + hstart, hlen);

  std::string_view descr = Field(h, "descr");
  size_t q1 = descr.find('\'');
  size_t q2 = q1 == std::string_view::npos ? q1 : descr.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return bad("the header has no dtype");
  descr = descr.substr(q1 + 1, q2 - q1 - 1);
  bool found = false;
  for (sinter_dtype d : {SINTER_F32, SINTER_F16, SINTER_F64, SINTER_I64, SINTER_I32, SINTER_I8,
                         SINTER_U8, SINTER_BOOL}) {
    if (descr == NpyDescr(d)) {
      out->dtype = d;
      found = true;
    }
  }
  if (!found) return bad("unsupported dtype " + std::string(descr));
  std::string_view order = Trim(Field(h, "fortran_order"));
  if (order.substr(0, 4) == "True") return bad("Fortran order is not supported");
  if (order.substr(0, 5) != "False") return bad("the header has no fortran_order");

  std::string_view shape = Field(h, "shape");
  size_t p1 = shape.find('(');
  size_t p2 = p1 == std::string_view::npos ? p1 : shape.find(')', p1);
  if (p2 == std::string_view::npos) return bad("the header has no shape");
  shape = shape.substr(p1 + 1, p2 - p1 - 1);
  out->shape.clear();
  uint64_t n = 1;
  while (!Trim(shape).empty()) {
    size_t comma = shape.find(',');
    std::string_view item = Trim(shape.substr(0, comma));
    shape = comma == std::string_view::npos ? std::string_view() : shape.substr(comma + 1);
    if (item.empty()) return bad("empty dimension in the shape");
    if (item.back() == 'L') item.remove_suffix(1);  // Python 2 longs
    int64_t d = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), d);
    if (ec != std::errc() || end != item.data() + item.size()) {
      return bad("bad dimension '" + std::string(item) + "'");
    }
    if (d < 0) return bad("negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return bad("shape overflows");
    out->shape.push_back(d);
    if (out->shape.size() > 64) return bad("more than 64 dimensions");
  }
  uint64_t nbytes;
  if (__builtin_mul_overflow(n, sinter_dtype_size(out->dtype), &nbytes) ||
      nbytes != bytes.size() - hstart - hlen) {
    return bad("data size (" + std::to_string(bytes.size() - hstart - hlen) +
               " bytes) does not match its shape and dtype");
  }
  try {
    out->data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(hstart + hlen), bytes.end());
  } catch (const std::bad_alloc&) {
    return bad("out of memory");
  }
  return "";
}

// Reads `path`; returns an empty string on success, else what is wrong.
// `limit`: the largest file read (default 16 GiB).
inline std::string ReadNpy(const std::string& path, NpyArray* out,
                           size_t limit = size_t{16} << 30) {
  std::string bytes;
  if (std::string err = npy_internal::ReadRegularFile(path, limit, &bytes); !err.empty()) {
    return err;
  }
  return ParseNpy(bytes, path, out);
}

// Converts an f32 array to bf16 (round to nearest even) in place.
inline void NpyF32ToBf16(NpyArray* a) {
  std::vector<uint8_t> out(a->data.size() / 2);
  for (size_t i = 0; i < a->data.size() / 4; ++i) {
    float f;
    std::memcpy(&f, a->data.data() + 4 * i, 4);
    uint16_t b = npy_internal::F32ToBf16(f);
    std::memcpy(out.data() + 2 * i, &b, 2);
  }
  a->data = std::move(out);
  a->dtype = SINTER_BF16;
}

// Writes a .npy file; returns "" on success. bf16 is written as f32.
inline std::string WriteNpy(const std::string& path, sinter_dtype dtype,
                            const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
  std::vector<uint8_t> widened;
  if (dtype == SINTER_BF16) {
    widened.resize(nbytes * 2);
    for (size_t i = 0; i < nbytes / 2; ++i) {
      uint16_t b;
      std::memcpy(&b, static_cast<const uint8_t*>(data) + 2 * i, 2);
      uint32_t u = static_cast<uint32_t>(b) << 16;
      std::memcpy(widened.data() + 4 * i, &u, 4);
    }
    dtype = SINTER_F32;
    data = widened.data();
    nbytes = widened.size();
  }
  const char* descr = NpyDescr(dtype);
  if (descr == nullptr) return "cannot write dtype " + std::string(sinter_dtype_name(dtype));
  std::string h = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    h += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  h += "), }";
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  if (h.size() > 0xffff) return "shape too long for a .npy 1.0 header";
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(h.size() & 0xFF);
  file += static_cast<char>(h.size() >> 8);
  file += h;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write '" + path + "': " + std::strerror(errno);
  auto write_all = [fd](const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  const bool ok = write_all(file.data(), file.size()) && write_all(data, nbytes);
  const int err = errno;
  if (::close(fd) != 0 || !ok) {
    return "write to '" + path + "' failed: " + std::strerror(ok ? errno : err);
  }
  return "";
}

}  // namespace sinter::tools

#endif  // SINTER_TOOLS_NPY_H_
