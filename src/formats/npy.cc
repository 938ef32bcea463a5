#include "formats/npy.h"

#include <cstring>
#include <fstream>

#include "io/file.h"

namespace amanuensis {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr int64_t kMaxElements = int64_t{1} << 32;  // 16 GiB of float32: far past any real input

[[noreturn]] void fail(const std::string& what, const std::string& why) {
  throw NpyError(what + ": " + why);
}

// Value text of `'key': value` in the header dict, up to the next top-level comma or brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& what) {
  const std::string quoted[] = {"'" + key + "'", "\"" + key + "\""};
  size_t pos = std::string::npos;
  for (const auto& q : quoted)
    if ((pos = header.find(q)) != std::string::npos) {
      pos += q.size();
      break;
    }
  if (pos == std::string::npos) fail(what, "npy header has no '" + key + "'");
  pos = header.find(':', pos);
  if (pos == std::string::npos) fail(what, "npy header is malformed near '" + key + "'");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', end);
    if (end == std::string::npos) fail(what, "npy header has an unterminated shape");
    return header.substr(pos, end - pos + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  std::string v = header.substr(pos, end - pos);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& what) {
  // "(3, 4)", "(5,)" or "()"
  std::vector<int64_t> shape;
  size_t i = 1;
  while (i + 1 < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i >= text.size() - 1) break;
    if (text[i] < '0' || text[i] > '9') fail(what, "npy shape is not a tuple of integers: " + text);
    int64_t d = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      d = d * 10 + (text[i] - '0');
      if (d > kMaxElements) fail(what, "npy dimension is absurdly large: " + text);
      ++i;
    }
    shape.push_back(d);
    if (shape.size() > 32) fail(what, "npy array has more than 32 dimensions");
  }
  return shape;
}

}  // namespace

NpyF32 parse_npy_f32(const uint8_t* bytes, size_t size, const std::string& what) {
  if (size < kMagicLen + 4 || std::memcmp(bytes, kMagic, kMagicLen) != 0)
    fail(what, "not a .npy file (bad magic)");
  const int major = bytes[6];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = bytes[8] | (size_t(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail(what, "truncated npy header");
    header_len =
        bytes[8] | (size_t(bytes[9]) << 8) | (size_t(bytes[10]) << 16) | (size_t(bytes[11]) << 24);
    header_start = 12;
  } else {
    fail(what, "unsupported npy format version " + std::to_string(major));
  }
  if (header_len > size - header_start) fail(what, "truncated npy header");
  const std::string header(reinterpret_cast<const char*>(bytes) + header_start, header_len);
  if (header.find('{') == std::string::npos || header.find('}') == std::string::npos)
    fail(what, "npy header is not a dict");

  const std::string descr = dict_value(header, "descr", what);
  if (descr != "'<f4'" && descr != "\"<f4\"")
    fail(what, "dtype must be float32 ('<f4'), got " + descr);
  const std::string fortran = dict_value(header, "fortran_order", what);
  if (fortran == "True") fail(what, "Fortran-order arrays are not supported; save with C order");
  if (fortran != "False") fail(what, "npy header has a bad fortran_order: " + fortran);

  NpyF32 out;
  out.shape = parse_shape(dict_value(header, "shape", what), what);
  int64_t count = 1;
  for (int64_t d : out.shape) {
    if (d != 0 && count > kMaxElements / d) fail(what, "npy array is absurdly large");
    count *= d;
  }
  const size_t data_start = header_start + header_len;
  const size_t available = size - data_start;
  if (available < size_t(count) * 4)
    fail(what, "truncated npy data: expected " + std::to_string(count * 4) + " bytes, found " +
                   std::to_string(available));
  if (available > size_t(count) * 4) fail(what, "npy file has trailing bytes after its data");
  out.data.resize(size_t(count));
  if (count > 0) std::memcpy(out.data.data(), bytes + data_start, size_t(count) * 4);
  return out;
}

NpyF32 read_npy_f32(const std::string& path) {
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const std::runtime_error& e) {
    throw NpyError(e.what());
  }
  return parse_npy_f32(bytes.data(), bytes.size(), path);
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dims;  // "3, 4" or "5," (a one-element tuple needs its comma)
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? ", " : "") + std::to_string(shape[i]);
    count *= shape[i];
  }
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad so that the data starts on a 64-byte boundary; the header ends with '\n'.
  const size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw NpyError(path + ": cannot create file");
  out.write(kMagic, kMagicLen);
  const char version[2] = {1, 0};
  out.write(version, 2);
  const uint16_t len = uint16_t(header.size());
  const char len_bytes[2] = {char(len & 0xff), char(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(data), std::streamsize(count * 4));
  if (!out) throw NpyError(path + ": write failed");
}

}  // namespace amanuensis
