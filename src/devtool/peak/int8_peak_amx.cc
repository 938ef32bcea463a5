#include "devtool/peak/int8_peak.h"
#include "kernels/amx_tiles.h"

namespace amanuensis {

// Four independent accumulator tiles, each fed by two of four source tiles
// that stay in their registers: the tile unit's multiply-add rate alone.
double int8_peak_loop_amx(long iterations) {
  amx::TileConfig c;
  for (int t = 0; t < 8; ++t) c.set(t, 16, 64);
  amx::load_config(c);
  alignas(64) int8_t ones[16][64];
  for (auto& row : ones)
    for (int8_t& v : row) v = 1;
  amx::zero<0>();
  amx::zero<1>();
  amx::zero<2>();
  amx::zero<3>();
  amx::load<4>(ones, 64);
  amx::load<5>(ones, 64);
  amx::load<6>(ones, 64);
  amx::load<7>(ones, 64);
  for (long i = 0; i < iterations; ++i) {
    amx::dpbusd<0, 4, 6>();
    amx::dpbusd<1, 4, 7>();
    amx::dpbusd<2, 5, 6>();
    amx::dpbusd<3, 5, 7>();
  }
  alignas(64) int32_t out[16][16];
  amx::store<0>(out, 64);
  amx::release();
  volatile int sink = out[0][0];
  (void)sink;
  return double(iterations) * 4 * (16 * 16 * 64) * 2;
}

}  // namespace amanuensis
