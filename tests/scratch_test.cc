// The session's scratch pool (util/scratch.h): large buffers are reused from
// one call to the next, small ones and those outside a scope go to malloc,
// and a buffer goes back to its own pool whichever thread frees it.
#include <gtest/gtest.h>

#include <thread>

#include "util/scratch.h"
#include "util/uninit_vector.h"

namespace amanuensis {
namespace {

constexpr size_t kLarge = kScratchMinBytes / sizeof(float) * 4;  // 512 KiB of floats

TEST(Scratch, LargeBuffersAreReusedWithinAScope) {
  ScratchPool pool;
  const ScratchScope scope(pool);
  const float* first;
  {
    UninitVector<float> a(kLarge);
    first = a.data();
  }
  EXPECT_GE(pool.bytes_held(), kLarge * sizeof(float));
  const size_t reserved = pool.bytes_reserved();
  UninitVector<float> b(kLarge);
  EXPECT_EQ(b.data(), first);  // the same memory, not a fresh mapping
  EXPECT_EQ(pool.bytes_reserved(), reserved);
}

TEST(Scratch, ALargeFreeRegionIsSplitAndThePiecesMergeBack) {
  ScratchPool pool;
  const ScratchScope scope(pool);
  { UninitVector<float> big(kLarge * 4); }
  const size_t reserved = pool.bytes_reserved();
  {
    UninitVector<float> a(kLarge), b(kLarge), c(kLarge);  // three pieces of the one chunk
    EXPECT_EQ(pool.bytes_reserved(), reserved);
    EXPECT_NE(a.data(), b.data());
  }
  UninitVector<float> again(kLarge * 4);  // the pieces merged: the whole chunk again
  EXPECT_EQ(pool.bytes_reserved(), reserved);
}

TEST(Scratch, SmallBuffersAndThoseOutsideAScopeUseMalloc) {
  ScratchPool pool;
  {
    const ScratchScope scope(pool);
    UninitVector<float> small(16);
  }
  EXPECT_EQ(pool.bytes_held(), 0u);
  { UninitVector<float> outside(kLarge); }  // no scope: malloc and free
  EXPECT_EQ(pool.bytes_held(), 0u);
}

TEST(Scratch, FreedOnAnotherThreadItGoesBackToItsPool) {
  ScratchPool pool;
  UninitVector<float> v;
  {
    const ScratchScope scope(pool);
    v.resize(kLarge);
  }
  std::thread([moved = std::move(v)]() mutable { moved = {}; }).join();
  EXPECT_GE(pool.bytes_held(), kLarge * sizeof(float));
}

TEST(Scratch, ScopesNest) {
  ScratchPool outer, inner;
  const ScratchScope a(outer);
  {
    const ScratchScope b(inner);
    UninitVector<float> v(kLarge);
  }
  EXPECT_GT(inner.bytes_held(), 0u);
  { UninitVector<float> w(kLarge); }
  EXPECT_GT(outer.bytes_held(), 0u);
}

}  // namespace
}  // namespace amanuensis
