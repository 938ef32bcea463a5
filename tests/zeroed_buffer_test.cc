// ZeroedBuffer: zero without being written, memory only where written.
#include "util/zeroed_buffer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace amanuensis {
namespace {

// Pages of [p, p + bytes) that are resident.
int resident_pages(const void* p, size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t pages = (bytes + page - 1) / page;
  std::vector<unsigned char> in_core(pages);
  EXPECT_EQ(mincore(const_cast<void*>(p), bytes, in_core.data()), 0);
  int n = 0;
  for (unsigned char c : in_core) n += c & 1;
  return n;
}

TEST(ZeroedBuffer, ReadsZeroAndHoldsOnlyWhatIsWritten) {
  constexpr size_t kFloats = size_t(16) << 20;  // 64 MB, page aligned by mmap
  ZeroedBuffer<float> b(kFloats);
  ASSERT_EQ(b.size(), kFloats);
  EXPECT_EQ(resident_pages(b.data(), kFloats * sizeof(float)), 0);
  b.data()[12345] = 1.5f;
  b.data()[kFloats - 1] = -2.0f;
  // Two pages, or two 2 MB huge pages where THP is "always": a zero-filled
  // vector would hold all 64 MB.
  const int written = resident_pages(b.data(), kFloats * sizeof(float));
  EXPECT_GE(written, 2);
  EXPECT_LE(written, 2 * (2 << 20) / int(sysconf(_SC_PAGESIZE)));
  double sum = 0;
  for (float v : std::vector<float>(b.begin(), b.begin() + (1 << 20))) sum += v != 0.0f;
  EXPECT_EQ(sum, 1);  // the written value; the rest of the first 4 MB reads zero
  EXPECT_EQ(b.data()[12344], 0.0f);
  EXPECT_EQ(b.data()[kFloats - 1], -2.0f);
}

TEST(ZeroedBuffer, MovesOwnership) {
  ZeroedBuffer<float> a(1000);
  a.data()[7] = 3.0f;
  ZeroedBuffer<float> b(std::move(a));
  EXPECT_EQ(b.size(), 1000u);
  EXPECT_EQ(b.data()[7], 3.0f);
  a = ZeroedBuffer<float>(10);  // a moved-from buffer takes a new one
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(a.data()[9], 0.0f);
  ZeroedBuffer<float> empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);
}

}  // namespace
}  // namespace amanuensis
