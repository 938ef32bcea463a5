// Malloc settings for an engine that allocates and frees buffers of megabytes
// many times a second.
#pragma once

namespace amanuensis {

// Keep freed memory instead of returning it to the kernel: fresh pages cost a
// fault and a zeroing each (a quarter of the encoder's time before this).
// Idempotent and thread-safe; the model constructors call it, so every
// client of the library gets it.
void tune_allocator();

}  // namespace amanuensis
