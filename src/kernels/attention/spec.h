// The integer attention spec (docs/attention.md) as constants and scalar
// primitives. Every backend includes this file; it is the one source of truth
// for shapes, tile sizes, fixed-point formats and tables.
#pragma once

#include <array>
#include <cstdint>

namespace amanuensis::attn {

inline constexpr int kHeadDim = 64;     // Whisper head dimension, every size.
inline constexpr int kQuantBlock = 64;  // tokens per Q / K scale block.
inline constexpr int kMaxTile = 64;
inline constexpr std::array<int, 3> kTileSizes = {16, 32, 64};
// Keys are limited so that the int32 accumulator cannot overflow:
// kMaxKeys * 255 * 127 < 2^31 (P is at most 255, |V| at most 127).
inline constexpr int kMaxKeys = 65536;
static_assert(int64_t{kMaxKeys} * 255 * 127 < (int64_t{1} << 31));

// Logits L are fixed point, base 2, with kLogitFracBits fractional bits:
// L = round(S * s_q * s_k * softmax_scale * log2(e) * 2^kLogitFracBits).
inline constexpr int kLogitFracBits = 5;
inline constexpr int kLogitFracMask = (1 << kLogitFracBits) - 1;
// S * M must fit int32 with its rounding term: |S| <= 64*127*127 < 2^20,
// M < 2^kLogitMulBits, rounding term <= 2^29.
inline constexpr int kLogitMulBits = 10;
inline constexpr int kLogitMinShift = 8;   // keeps |L| < 2^22
inline constexpr int kLogitMaxShift = 30;
static_assert(int64_t{kHeadDim} * 127 * 127 * (1 << kLogitMulBits) + (1 << 29) <
              (int64_t{1} << 31));
// Sentinel for masked keys and for "no key seen yet": far below any real L,
// far enough above INT32_MIN that differences never overflow.
inline constexpr int32_t kLogitMasked = -(1 << 26);

// P is uint8: p = ((kExp[f] >> n) + 1) >> 1 for x = n * 32 + f = tile_max - L.
// kExp[f] = round(510 * 2^(-f/32)), so p(0) = 255 and p = 0 once n >= 9.
inline constexpr int kPMax = 255;
inline constexpr std::array<int32_t, 32> kExp = {
    510, 499, 488, 478, 468, 458, 448, 438, 429, 420, 411, 402, 393, 385, 377, 369,
    361, 353, 345, 338, 331, 324, 317, 310, 303, 297, 290, 284, 278, 272, 266, 261};

// Rescale by 2^(-d/32), d >= 0: r(x, d) = (x * kRescale[f] + 2^(8+n)) >> (9+n),
// and 0 once n > kRescaleMaxShift. kRescale[f] = round(512 * 2^(-f/32)).
inline constexpr int kRescaleBits = 9;
inline constexpr int kRescaleMaxShift = 22;
inline constexpr std::array<int32_t, 32> kRescale = {
    512, 501, 490, 480, 470, 459, 450, 440, 431, 421, 412, 403, 395, 386, 378, 370,
    362, 354, 347, 339, 332, 325, 318, 311, 304, 298, 292, 285, 279, 273, 267, 262};
// A tile's partial sums (<= 64 * 255 * 127) rescale in int32 without overflow.
static_assert(int64_t{kMaxTile} * kPMax * 127 * 512 + (int64_t{1} << (8 + kRescaleMaxShift)) <
              (int64_t{1} << 31));

// Per (query block, key block) logit multiplier: L = (S * mul + 2^(shift-1)) >> shift.
struct LogitScale {
  int32_t mul;
  int32_t shift;
};

// ---- scalar primitives, shared by the reference and every tail loop ----

inline int32_t logit(int32_t s, LogitScale ls) {
  return (s * ls.mul + (int32_t{1} << (ls.shift - 1))) >> ls.shift;
}

// x = tile_max - L >= 0.
inline int32_t p_of(int32_t x) {
  const int32_t n = x >> kLogitFracBits;
  if (n >= 31) return 0;  // SIMD variable shifts give 0 here too.
  return ((kExp[x & kLogitFracMask] >> n) + 1) >> 1;
}

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
  static constexpr int kKeySums = 2 * kTile * 4;                 // int32 per key, double-buffered
  static constexpr int kLogits = kTile * kTile * 4;              // int32 L
  static constexpr int kP = kTile * kTile;                       // uint8 P
  static constexpr int kAcc = kTile * kHeadDim * 4;              // int32 running P.V
  static constexpr int kRowState = kTile * 4 * 3;                // int32 m, l, tile max
  static constexpr int kTotal = kQ + kKV + kKeySums + kLogits + kP + kAcc + kRowState;
};
inline constexpr int kAie2DataMemory = 64 * 1024;
static_assert(TileStepMemory<64>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<32>::kTotal <= kAie2DataMemory);
static_assert(TileStepMemory<16>::kTotal <= kAie2DataMemory);

}  // namespace amanuensis::attn
