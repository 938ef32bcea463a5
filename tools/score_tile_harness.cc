// The AVX2 decoder cross-attention score tile (5 queries x 16 float16 keys x 64
// channels, keys in L1) three ways, in vector multiply-add pairs per ns:
//   broadcast       each query channel broadcast from memory per key block (the
//                   kernel in src/kernels/decoder_attention/avx2.cc today)
//   pre-broadcast   each query channel read from a 32-byte slot filled once
//   float keys      as "broadcast" over float keys (the cost of the conversion)
// Not part of the build; a measurement behind docs/PERFORMANCE.md:
//   g++ -O2 -mavx2 -mfma -mf16c -ffp-contract=off tools/score_tile_harness.cc -o /tmp/tile && /tmp/tile
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {
constexpr int kQ = 5, kD = 64, kKeyBlock = 32, kBlocks = 4;  // 4 x 64 x 32 halves = 16 KB
using Half = uint16_t;

__m256 load_halves(const Half* h) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)h)); }
__m256 load_halves(const float* f) { return _mm256_loadu_ps(f); }

template <typename Key>
[[gnu::noinline]] void broadcast(const float* q, const Key* kb, float* p) {
  __m256 a[kQ][2];
  for (auto& r : a) r[0] = r[1] = _mm256_setzero_ps();
  for (int c = 0; c < kD; ++c) {
    const __m256 k0 = load_halves(kb + c * kKeyBlock), k1 = load_halves(kb + c * kKeyBlock + 8);
#pragma GCC unroll 8
    for (int i = 0; i < kQ; ++i) {
      const __m256 qc = _mm256_broadcast_ss(q + i * kD + c);
      a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(qc, k0));
      a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(qc, k1));
    }
  }
  for (int i = 0; i < kQ; ++i) {
    _mm256_storeu_ps(p + i * 16, a[i][0]);
    _mm256_storeu_ps(p + i * 16 + 8, a[i][1]);
  }
}

[[gnu::noinline]] void pre_broadcast(const float* qb, const Half* kb, float* p) {
  __m256 a[kQ][2];
  for (auto& r : a) r[0] = r[1] = _mm256_setzero_ps();
  for (int c = 0; c < kD; ++c) {
    const __m256 k0 = load_halves(kb + c * kKeyBlock), k1 = load_halves(kb + c * kKeyBlock + 8);
#pragma GCC unroll 8
    for (int i = 0; i < kQ; ++i) {
      const __m256 qc = _mm256_loadu_ps(qb + (c * kQ + i) * 8);
      a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(qc, k0));
      a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(qc, k1));
    }
  }
  for (int i = 0; i < kQ; ++i) {
    _mm256_storeu_ps(p + i * 16, a[i][0]);
    _mm256_storeu_ps(p + i * 16 + 8, a[i][1]);
  }
}

template <typename Fn>
void report(const char* name, Fn tile) {
  constexpr long kCalls = 400000;
  constexpr double kPairsPerCall = double(kD) * kQ * 2;  // two 8-key vectors per query and channel
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long r = 0; r < kCalls; ++r) tile(r % (2 * kBlocks));
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-14s %.2f pairs/ns\n", name, kCalls * kPairsPerCall / ns);
  }
}
}  // namespace

int main() {
  std::vector<Half> k(kBlocks * kD * kKeyBlock, 0x3c00);  // 1.0
  std::vector<float> kf(k.size(), 1.0f), q(kQ * kD, 0.5f), qb(kD * kQ * 8, 0.5f), p(kQ * 16);
  // Tile t: key block t / 2, its first or second 16 keys.
  auto offset = [](long t) { return (t / 2) * kD * kKeyBlock + (t % 2) * 16; };
  report("broadcast", [&](long t) { broadcast(q.data(), k.data() + offset(t), p.data()); });
  report("pre-broadcast", [&](long t) { pre_broadcast(qb.data(), k.data() + offset(t), p.data()); });
  report("float keys", [&](long t) { broadcast(q.data(), kf.data() + offset(t), p.data()); });
}
