// The server's multipart/form-data reader (src/server/multipart.cc): what
// clients send (curl, httpx, requests), and every way a body can be wrong.
#include <gtest/gtest.h>

#include "server/multipart.h"

namespace amanuensis::server {
namespace {

using namespace std::string_literals;

TEST(Multipart, Boundary) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"a b;c\""), "a b;c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; boundary=x1"), "x1");
  EXPECT_EQ(multipart_boundary("multipart/form-data"), "");
  EXPECT_EQ(multipart_boundary("application/json; boundary=abc"), "");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=\"abc"), "");  // unclosed
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')), "");
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=a\x01"), "");
  EXPECT_EQ(multipart_boundary(""), "");
}

const std::string kBody =
    "preamble\r\n--B\r\n"
    "Content-Disposition: form-data; name=\"model\"\r\n\r\nbase\r\n"
    "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"
    "Content-Type: audio/wav\r\n\r\nRIFF\r\n--C\x00\xff\r\n"
    "--B--\r\nepilogue"s;

TEST(Multipart, Fields) {
  std::vector<FormField> f;
  ASSERT_EQ(parse_multipart(kBody, "B", 32, f), FormError::kNone);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "model");
  EXPECT_EQ(f[0].value, "base");
  EXPECT_EQ(f[1].name, "file");
  EXPECT_EQ(f[1].filename, "a \"b\".wav");
  EXPECT_EQ(f[1].content_type, "audio/wav");
  EXPECT_EQ(f[1].value, std::string("RIFF\r\n--C\x00\xff", 11));  // binary, a near-delimiter
}

TEST(Multipart, EmptyValueAndFirstBoundaryAtTheStart) {
  std::vector<FormField> f;
  ASSERT_EQ(
      parse_multipart("--B\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--B--", "B", 32, f),
      FormError::kNone);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "a");
  EXPECT_EQ(f[0].value, "");
}

TEST(Multipart, EveryCutIsMalformed) {
  // Any prefix of a valid body lacks its closing boundary.
  for (size_t n = 0; n + 10 < kBody.size(); ++n) {
    std::vector<FormField> f;
    EXPECT_NE(parse_multipart(kBody.substr(0, n), "B", 32, f), FormError::kNone) << n;
  }
}

TEST(Multipart, Malformed) {
  const auto bad = [](const std::string& body) {
    std::vector<FormField> f;
    return parse_multipart(body, "B", 32, f) == FormError::kMalformed;
  };
  EXPECT_TRUE(bad(""));
  EXPECT_FALSE(bad("--B--"));                     // no field: for parse_request to refuse
  EXPECT_TRUE(bad("--B\r\n\r\nvalue\r\n--B--"));  // no name
  EXPECT_TRUE(bad("--B\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--B--"));
  EXPECT_TRUE(bad("--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--B--"));
  EXPECT_TRUE(bad("--B\r\nno colon here\r\n\r\nv\r\n--B--"));
  EXPECT_TRUE(bad("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--Bx"));
  EXPECT_TRUE(bad("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv"));
  std::vector<FormField> f;
  EXPECT_EQ(parse_multipart("x", "", 32, f), FormError::kMalformed);
}

TEST(Multipart, FieldCap) {
  std::string body;
  for (int i = 0; i < 5; ++i) body += "--B\r\nContent-Disposition: form-data; name=f\r\n\r\nv\r\n";
  body += "--B--";
  std::vector<FormField> f;
  EXPECT_EQ(parse_multipart(body, "B", 4, f), FormError::kTooManyFields);
  f.clear();
  EXPECT_EQ(parse_multipart(body, "B", 5, f), FormError::kNone);
  EXPECT_EQ(f.size(), 5u);
}

}  // namespace
}  // namespace amanuensis::server
