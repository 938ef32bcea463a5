// AMX backend: the tile kernel of avx512_tile.h with its int8 products as AMX
// tile multiplies, each done for a whole key tile before the vector code
// reads it. Both products come out in the kernel's [row][query] layout, with
// the signed operand in the A tile (TDPBSUD: s8 rows x u8 columns):
//   scores  S^T[key][query]  = K (s8, as stored) . Q^T (u8, q_u8's 4-dim lanes)
//   values  O^T[chan][query] = V^T (s8, as stored) . P (u8, P's 4-key lanes)
// Compiled with the AVX-512 flags (the tile instructions are inline asm,
// amx_tiles.h).
#include "kernels/amx_tiles.h"
#include "kernels/attention/avx512_tile.h"

namespace amanuensis::attn {
namespace {

// Tile registers.
enum : int {
  kKeys,          // 16 keys x 64 dims (s8)
  kKeysLo,        // the same of the second plane
  kQueries,       // 64 dims (16 lanes of 4) x 16 queries (u8)
  kQueriesLo,     // the same of the second plane
  kSums,          // 16 x 16 int32: scores (hi.hi with two planes), then values
  kCrossSums,     // 16 x 16 int32: hi.lo + lo.hi scores
  kValues,        // 16 channels x kTile keys (s8)
  kProbabilities  // kTile keys (lanes of 4) x 16 queries (u8)
};

template <int kTile, int kPlanes, int kVecs>
class AmxProducts {
 public:
  static constexpr int kBlock = avx512::key_block(kVecs);
  using Inputs = avx512::ProductInputs<kTile, kPlanes>;
  static constexpr size_t kRowBytes = kTile * sizeof(int32_t);  // of L, P, O, q_u8

  AmxProducts(const QuantizedAttention& p, int h, const typename Inputs::Queries& q_u8,
              const typename Inputs::LoQueries& q_lo_u8)
      : in_(p, h, q_u8, q_lo_u8) {
    amx::TileConfig c;
    for (int t : {kKeys, kKeysLo, kQueries, kQueriesLo, kSums, kCrossSums}) c.set(t, 16, 64);
    c.set(kValues, 16, kTile);
    c.set(kProbabilities, kTile / 4, 64);
    amx::load_config(c);
  }
  ~AmxProducts() { amx::release(); }
  AmxProducts(const AmxProducts&) = delete;
  AmxProducts& operator=(const AmxProducts&) = delete;

  // The scores of keys [k0, k0 + key_end rounded up to 16) into L (with two
  // planes: hi.hi into L, the cross terms into cross_).
  void begin_scores(int k0, int key_end, int32_t (&L)[kTile][kTile]) {
    for (int kb = 0; kb < key_end; kb += 16) {
      amx::load<kKeys>(in_.k + size_t(k0 + kb) * kHeadDim, kHeadDim);
      if constexpr (kPlanes == 2)
        amx::load<kKeysLo>(in_.k_lo + size_t(k0 + kb) * kHeadDim, kHeadDim);
      for (int v = 0; v < kVecs; ++v) {
        amx::load<kQueries>(&in_.q_u8[0][16 * v], kRowBytes);
        amx::zero<kSums>();
        amx::dpbsud<kSums, kKeys, kQueries>();
        amx::store<kSums>(&L[kb][16 * v], kRowBytes);
        if constexpr (kPlanes == 2) {
          amx::load<kQueriesLo>(&in_.q_lo_u8[0][16 * v], kRowBytes);
          amx::zero<kCrossSums>();
          amx::dpbsud<kCrossSums, kKeysLo, kQueries>();
          amx::dpbsud<kCrossSums, kKeys, kQueriesLo>();
          amx::store<kCrossSums>(&cross_[kb][16 * v], kRowBytes);
        }
      }
    }
  }
  void scores(int, int jb, const int32_t (&L)[kTile][kTile], __m512i (&s)[kBlock][kVecs]) const {
    for (int b = 0; b < kBlock; ++b)
      for (int v = 0; v < kVecs; ++v) {
        s[b][v] = _mm512_load_si512(&L[jb + b][16 * v]);
        if constexpr (kPlanes == 2)  // 254 * hi.hi + (hi.lo + lo.hi)
          s[b][v] = _mm512_add_epi32(_mm512_mullo_epi32(s[b][v], _mm512_set1_epi32(kPlaneRatio)),
                                     _mm512_load_si512(&cross_[jb + b][16 * v]));
      }
  }

  // The tile multiplies all kTile keys: P's rows past key_end (not written
  // by the kernel) are zeroed first.
  void begin_values(int k0, int key_end, uint32_t (&P)[kTile / 4][kTile]) {
    if (key_end < kTile) std::memset(&P[key_end / 4][0], 0, (kTile - key_end) / 4 * kRowBytes);
    for (int cb = 0; cb < kHeadDim; cb += 16) {
      amx::load<kValues>(in_.v_t + size_t(cb) * in_.kv_pad + k0, in_.kv_pad);
      for (int v = 0; v < kVecs; ++v) {
        amx::load<kProbabilities>(&P[0][16 * v], kRowBytes);
        amx::zero<kSums>();
        amx::dpbsud<kSums, kValues, kProbabilities>();
        amx::store<kSums>(&values_[cb][16 * v], kRowBytes);
      }
    }
  }
  void values(int, int cb, int, const uint32_t (&)[kTile / 4][kTile],
              __m512i (&o)[kBlock][kVecs]) const {
    for (int c = 0; c < kBlock; ++c)
      for (int v = 0; v < kVecs; ++v) o[c][v] = _mm512_load_si512(&values_[cb + c][16 * v]);
  }

 private:
  Inputs in_;
  alignas(64) int32_t cross_[kPlanes == 2 ? kTile : 1][kTile];
  alignas(64) int32_t values_[kHeadDim][kTile];
};

}  // namespace

TileFn amx_tile_fn(int tile) { return avx512::avx512_tile_fn_with<AmxProducts>(tile); }

}  // namespace amanuensis::attn
