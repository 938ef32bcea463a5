// The machine's memory read bandwidth, measured in-process: the floor of any
// step that must read more bytes than the caches hold (a decoder step reads
// every weight once).
#pragma once

namespace amanuensis {

// GB/s (1e9 bytes) of streaming reads over a buffer far larger than the last
// cache level, all threads together; best of several rounds.
double measure_read_bandwidth(int threads);

}  // namespace amanuensis
