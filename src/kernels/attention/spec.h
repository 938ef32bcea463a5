// The integer attention spec (docs/attention.md) as constants and scalar
// primitives. Every backend includes this file; it is the one source of truth
// for shapes, tile sizes, fixed-point formats and tables.
#pragma once

#include <array>
#include <cstdint>

#include "util/whisper_geometry.h"

namespace amanuensis::attn {

using ::amanuensis::kHeadDim;  // Whisper head dimension, every size.
inline constexpr int kPadTo = 64;    // Q and K/V lengths are padded to a multiple of this.
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
inline constexpr int kLogitFracBits = 6;
inline constexpr int kLogitFracMask = (1 << kLogitFracBits) - 1;
inline constexpr int kScoreMulBits = 10;  // q_mul and k_mul are at most 2^10
inline constexpr int kLogitMinShift = 4;  // keeps |L| < 2^26
inline constexpr int kLogitMaxShift = 30;
// |S| <= 64*127*127 < 2^20: both products and their rounding terms fit int32.
inline constexpr int64_t kMaxScore = int64_t{kHeadDim} * 127 * 127;
static_assert(kMaxScore * (1 << kScoreMulBits) + (1 << (kScoreMulBits - 1)) < (int64_t{1} << 31));
static_assert((kMaxScore + 1) * (1 << kScoreMulBits) + (int64_t{1} << (kLogitMaxShift - 1)) <
              (int64_t{1} << 31));
// Two-plane Q/K (the default, kDefaultQkPlanes below): each value y/s = hi + lo / 254 with hi,
// lo int8, and the score in the one-plane range (254/256 of the product):
//   S = (254 * sum hi_q*hi_k + sum (hi_q*lo_k + lo_q*hi_k) + 128) >> 8
// |254*A + B| <= 256 * 64 * 127^2 < 2^31; the lo*lo term (< 2^-16 of S) is dropped.
inline constexpr int kPlaneRatio = 254;
// The default: two planes meet the accuracy targets on every case of
// docs/attention.md §5, one plane only where int8 Q/K rounding allows.
inline constexpr int kDefaultQkPlanes = 2;
inline constexpr int kTwoPlaneShift = 8;
inline constexpr int kTwoPlaneRound = 1 << (kTwoPlaneShift - 1);
// 254 A + B counts at most (254 + 2) * 64 * 127^2 = 2^8 kMaxScore: after the
// shift S stays within the one-plane bound, and before it within int32.
static_assert(kPlaneRatio + 2 == 1 << kTwoPlaneShift);
static_assert(int64_t{kPlaneRatio + 2} * kMaxScore < (int64_t{1} << 31));
inline int32_t two_plane_score(int32_t hi_hi, int32_t cross) {
  return (kPlaneRatio * hi_hi + cross + kTwoPlaneRound) >> kTwoPlaneShift;
}

// Sentinel for masked keys and for "no key seen yet": far below any real L,
// far enough above INT32_MIN that differences never overflow.
inline constexpr int32_t kLogitMasked = -(1 << 28);

// P, for x = n * 64 + f = tile_max - L >= 0, in two widths from one table:
//   P16 = kExp16[f] >> n, kExp16[f] = round(65280 * 2^(-f/64)): row sums
//   P8  = (P16 + 128) >> 8, in [0, 255]: the P.V product (u8 x s8)
// Row sums from P16 keep the softmax denominator exact to ~2^-16 even where
// P8 rounds a long tail of small weights to zero (docs/attention.md).
inline constexpr int kP16Max = 65280;
inline constexpr int kP8Max = 255;
inline constexpr int kP16ToP8Shift = 8;
inline constexpr std::array<uint16_t, 1 << kLogitFracBits> kExp16 = {
    65280, 64577, 63881, 63193, 62512, 61839, 61173, 60514, 59862, 59217, 58579, 57948, 57324,
    56707, 56096, 55491, 54894, 54302, 53717, 53139, 52566, 52000, 51440, 50886, 50338, 49796,
    49259, 48729, 48204, 47684, 47171, 46663, 46160, 45663, 45171, 44684, 44203, 43727, 43256,
    42790, 42329, 41873, 41422, 40976, 40534, 40098, 39666, 39238, 38816, 38398, 37984, 37575,
    37170, 36770, 36374, 35982, 35594, 35211, 34831, 34456, 34085, 33718, 33355, 32995};

// Rescale by 2^(-d/64), d >= 0: r(x, d) = (x * kRescale[f] + 2^(8+n)) >> (9+n),
// and 0 once n > kRescaleMaxShift. kRescale[f] = round(512 * 2^(-f/64)).
inline constexpr int kRescaleBits = 9;
inline constexpr int kRescaleMaxShift = 22;
inline constexpr std::array<uint16_t, 1 << kLogitFracBits> kRescale = {
    512, 506, 501, 496, 490, 485, 480, 475, 470, 464, 459, 454, 450, 445, 440, 435,
    431, 426, 421, 417, 412, 408, 403, 399, 395, 391, 386, 382, 378, 374, 370, 366,
    362, 358, 354, 350, 347, 343, 339, 336, 332, 328, 325, 321, 318, 314, 311, 308,
    304, 301, 298, 295, 292, 288, 285, 282, 279, 276, 273, 270, 267, 264, 262, 259};
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

// x * 2^(-d/64), rounded; d >= 0.
inline int64_t rescale(int64_t x, int32_t d) {
  const int32_t n = d >> kLogitFracBits;
  if (n > kRescaleMaxShift) return 0;
  const int shift = kRescaleBits + n;
  return (x * kRescale[d & kLogitFracMask] + (int64_t{1} << (shift - 1))) >> shift;
}

// ---- the memory of one tile step, for an AMD AIE2 compute tile (64 KiB) ----
template <int kTile, int kPlanes = 1>
struct TileStepMemory {
  static constexpr int kQ = kPlanes * kTile * kHeadDim;             // int8 Q tile (planes)
  static constexpr int kKV = 2 * (kPlanes + 1) * kTile * kHeadDim;  // int8 K planes, V; x2
  static constexpr int kKeySums = 2 * 2 * kTile * 4;  // int32 score_offset, k_mul; double-buffered
  static constexpr int kLogits = kTile * kTile * 4;   // int32 L
  static constexpr int kP = kTile * kTile;            // uint8 P
  static constexpr int kAcc = kTile * kHeadDim * 4;   // int32 running P.V
  static constexpr int kRowState = kTile * 4 * 5;     // int32 q_mul, m, l, tile max, tile l
  static constexpr int kTotal = kQ + kKV + kKeySums + kLogits + kP + kAcc + kRowState;
};
inline constexpr int kAie2DataMemory = 64 * 1024;
static_assert(TileStepMemory<64>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<32>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<16>::kTotal <= kAie2DataMemory);
// Two-plane Q/K fit up to 32-wide tiles (at 64: 71 936 bytes; single-buffered K/V would fit).
static_assert(TileStepMemory<32, 2>::kTotal <= kAie2DataMemory);

}  // namespace amanuensis::attn
