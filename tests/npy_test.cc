#include "formats/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace amanuensis {
namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> v1_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(header.size()), 0};
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0);
  return b;
}

TEST(Npy, RoundTrip) {
  const std::string path = ::testing::TempDir() + "/rt.npy";
  const std::vector<float> data = {1, -2, 3.5f, 4, 5, 6};
  for (auto shape :
       {std::vector<int64_t>{2, 3}, std::vector<int64_t>{6}, std::vector<int64_t>{1, 2, 3}}) {
    write_npy_f32(path, shape, data.data());
    const NpyF32 a = read_npy_f32(path);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.data, data);
    EXPECT_EQ(file_bytes(path).size() % 64, 24u % 64);  // 64-byte aligned header + 24 data bytes
  }
  std::remove(path.c_str());
}

TEST(Npy, ParsesNumpyWrittenHeader) {
  const auto b =
      v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 64), }      \n", 512);
  const NpyF32 a = parse_npy_f32(b.data(), b.size(), "x");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 64}));
}

TEST(Npy, RejectsMalformedFiles) {
  auto expect_error = [](const std::vector<uint8_t>& b, const std::string& needle) {
    try {
      parse_npy_f32(b.data(), b.size(), "x.npy");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const NpyError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({'h', 'e', 'l', 'l', 'o', '!', 1, 0, 0, 0}, "bad magic");
  expect_error(v1_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16), "float32");
  expect_error(v1_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8), "Fortran");
  expect_error(v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20),
               "truncated");
  expect_error(v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12),
               "trailing");
  expect_error(
      v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999,), }", 0),
      "absurd");
  expect_error(
      v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536), }", 0),
      "absurd");
  expect_error(v1_file("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", 0), "tuple");
  expect_error(v1_file("{'descr': '<f4', 'shape': (2,), }", 8), "fortran_order");
  auto short_header = v1_file("{'descr': '<f4'}", 0);
  short_header[8] = 200;  // claims more header than the file has
  expect_error(short_header, "truncated npy header");
  EXPECT_THROW(read_npy_f32("/nonexistent/x.npy"), NpyError);
}

}  // namespace
}  // namespace amanuensis
