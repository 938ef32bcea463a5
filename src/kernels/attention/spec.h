// The integer attention spec (docs/attention.md) as constants and scalar
// primitives. Every backend includes this file; it is the one source of truth
// for shapes, tile sizes, fixed-point formats and tables.
#pragma once

#include <array>
#include <cstdint>

namespace amanuensis::attn {

inline constexpr int kHeadDim = 64;     // Whisper head dimension, every size.
inline constexpr int kPadTo = 64;       // Q and K/V lengths are padded to a multiple of this.
inline constexpr int kMaxTile = 64;
inline constexpr std::array<int, 3> kTileSizes = {16, 32, 64};
static_assert(kPadTo % kMaxTile == 0);

// Keys are limited so that int32 row sums cannot overflow: a row sum adds at
// most kMaxKeys values of P16 (<= 65280).
inline constexpr int kMaxKeys = 32768;
static_assert(int64_t{kMaxKeys} * 65280 < (int64_t{1} << 31));

// Logits L are fixed point, base 2, with kLogitFracBits fractional bits:
//   L = S * s_q[i] * s_k[j] * softmax_scale * log2(e) * 2^kLogitFracBits,
// computed in two integer steps with per-query and per-key multipliers:
//   t = (S * q_mul[i] + 2^9) >> 10,   q_mul = round(1024 * s_q[i] / max s_q) <= 1024
//   L = (t * k_mul[j] + 2^(shift-1)) >> shift,   k_mul <= 1024, one shift per head
inline constexpr int kLogitFracBits = 5;
inline constexpr int kLogitFracMask = (1 << kLogitFracBits) - 1;
inline constexpr int kScoreMulBits = 10;   // q_mul and k_mul are at most 2^10
inline constexpr int kLogitMinShift = 8;   // keeps |L| < 2^22
inline constexpr int kLogitMaxShift = 30;
// |S| <= 64*127*127 < 2^20: both products and their rounding terms fit int32.
inline constexpr int64_t kMaxScore = int64_t{kHeadDim} * 127 * 127;
static_assert(kMaxScore * (1 << kScoreMulBits) + (1 << (kScoreMulBits - 1)) < (int64_t{1} << 31));
static_assert((kMaxScore + 1) * (1 << kScoreMulBits) + (int64_t{1} << (kLogitMaxShift - 1)) <
              (int64_t{1} << 31));
// Sentinel for masked keys and for "no key seen yet": far below any real L,
// far enough above INT32_MIN that differences never overflow.
inline constexpr int32_t kLogitMasked = -(1 << 26);

// P, for x = n * 32 + f = tile_max - L >= 0, in two widths from one table:
//   P16 = kExp16[f] >> n, kExp16[f] = round(65280 * 2^(-f/32)): row sums
//   P8  = (P16 + 128) >> 8, in [0, 255]: the P.V product (u8 x s8)
// Row sums from P16 keep the softmax denominator exact to ~2^-16 even where
// P8 rounds a long tail of small weights to zero (docs/attention.md).
inline constexpr int kP16Max = 65280;
inline constexpr int kP8Max = 255;
inline constexpr int kP16ToP8Shift = 8;
inline constexpr std::array<int32_t, 32> kExp16 = {
    65280, 63881, 62512, 61173, 59862, 58579, 57324, 56096, 54894, 53717, 52566, 51440, 50338, 49259, 48204, 47171,
    46160, 45171, 44203, 43256, 42329, 41422, 40534, 39666, 38816, 37984, 37170, 36374, 35594, 34831, 34085, 33355};

// Rescale by 2^(-d/32), d >= 0: r(x, d) = (x * kRescale[f] + 2^(8+n)) >> (9+n),
// and 0 once n > kRescaleMaxShift. kRescale[f] = round(512 * 2^(-f/32)).
inline constexpr int kRescaleBits = 9;
inline constexpr int kRescaleMaxShift = 22;
inline constexpr std::array<int32_t, 32> kRescale = {
    512, 501, 490, 480, 470, 459, 450, 440, 431, 421, 412, 403, 395, 386, 378, 370,
    362, 354, 347, 339, 332, 325, 318, 311, 304, 298, 292, 285, 279, 273, 267, 262};
// A tile's P.V sums (<= 64 * 255 * 127) rescale in int32 without overflow.
static_assert(int64_t{kMaxTile} * kP8Max * 127 * 512 + (int64_t{1} << (8 + kRescaleMaxShift)) <
              (int64_t{1} << 31));

// ---- scalar primitives, shared by the reference and every tail loop ----

inline int32_t logit(int32_t s, int32_t q_mul, int32_t k_mul, int32_t shift) {
  const int32_t t = (s * q_mul + (1 << (kScoreMulBits - 1))) >> kScoreMulBits;
  return (t * k_mul + (int32_t{1} << (shift - 1))) >> shift;
}

// x = tile_max - L >= 0.
inline int32_t p16_of(int32_t x) {
  const int32_t n = x >> kLogitFracBits;
  if (n >= 31) return 0;  // SIMD variable shifts give 0 here too.
  return kExp16[x & kLogitFracMask] >> n;
}
inline int32_t p8_of(int32_t p16) { return (p16 + (1 << (kP16ToP8Shift - 1))) >> kP16ToP8Shift; }

// x * 2^(-d/32), rounded; d >= 0.
inline int64_t rescale(int64_t x, int32_t d) {
  const int32_t n = d >> kLogitFracBits;
  if (n > kRescaleMaxShift) return 0;
  const int shift = kRescaleBits + n;
  return (x * kRescale[d & kLogitFracMask] + (int64_t{1} << (shift - 1))) >> shift;
}

// ---- the memory of one tile step, for an AMD AIE2 compute tile (64 KiB) ----
template <int kTile>
struct TileStepMemory {
  static constexpr int kQ = kTile * kHeadDim;                    // int8 Q tile
  static constexpr int kKV = 2 * 2 * kTile * kHeadDim;           // int8 K, V, double-buffered
  static constexpr int kKeySums = 2 * 2 * kTile * 4;             // int32 k_sum128, k_mul; double-buffered
  static constexpr int kLogits = kTile * kTile * 4;              // int32 L
  static constexpr int kP = kTile * kTile;                       // uint8 P
  static constexpr int kAcc = kTile * kHeadDim * 4;              // int32 running P.V
  static constexpr int kRowState = kTile * 4 * 5;                // int32 q_mul, m, l, tile max, tile l
  static constexpr int kTotal = kQ + kKV + kKeySums + kLogits + kP + kAcc + kRowState;
};
inline constexpr int kAie2DataMemory = 64 * 1024;
static_assert(TileStepMemory<64>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<32>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<16>::kTotal <= kAie2DataMemory);

}  // namespace amanuensis::attn
