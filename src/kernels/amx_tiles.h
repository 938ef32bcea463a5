// Intel AMX tile instructions, shared by the AMX kernels.
//
// A tile register holds up to 16 rows of 64 bytes. dpbusd<C, A, B>() adds to
// the int32 tile C[M][N] the products of u8 A[M][K] and s8 B, where B is
// stored four k to a 32-bit lane: row g of B holds k = 4g..4g+3 of each of
// its N columns (AVX-512 VNNI's weight layout, 16 lanes per row); dpbsud
// takes s8 A and u8 B. The configuration is per thread, so each kernel call
// loads it and releases the tiles when it returns.
//
// Written as inline asm rather than GCC 12's intrinsics: those tell the
// compiler that ldtilecfg reads 8 bytes of its 64 and that tile loads and
// stores touch no memory, so it may drop or move the stores they depend on.
// Here the configuration is a full 64-byte operand and loads and stores
// clobber memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace amanuensis::amx {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};

  void set(int tile, int row_count, int row_bytes) {
    rows[tile] = uint8_t(row_count);
    bytes_per_row[tile] = uint16_t(row_bytes);
  }
};
static_assert(sizeof(TileConfig) == 64);

inline void load_config(const TileConfig& c) { asm volatile("ldtilecfg %0" ::"m"(c)); }
inline void release() { asm volatile("tilerelease" ::: "memory"); }

template <int kT>
inline void zero() {
  asm volatile("tilezero %%tmm%c0" ::"i"(kT));
}
template <int kT>
inline void load(const void* base, size_t stride) {
  asm volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "i"(kT) : "memory");
}
template <int kT>
inline void store(void* base, size_t stride) {
  asm volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(base), "r"(stride), "i"(kT) : "memory");
}
template <int kC, int kA, int kB>
inline void dpbusd() {
  asm volatile("tdpbusd %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(kC), "i"(kA), "i"(kB));
}
template <int kC, int kA, int kB>
inline void dpbsud() {
  asm volatile("tdpbsud %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(kC), "i"(kA), "i"(kB));
}

}  // namespace amanuensis::amx
