// The cross-attention heads whose attention follows the speech in time (used
// for word timings), for checkpoints whose files do not list them: the
// published set for each Whisper size.
#pragma once

#include <utility>
#include <vector>

namespace amanuensis {

// (decoder layer, head) pairs for the size these dimensions identify
// (tiny.en ... large-v3-turbo; 51865-token large is taken for large-v2, whose
// dimensions equal large-v1's). Other shapes: every head of the second half of
// the decoder's layers, as CTranslate2's converter does when it has no list.
std::vector<std::pair<int, int>> default_alignment_heads(int decoder_layers, int d_model,
                                                         int n_heads, int n_vocab);

}  // namespace amanuensis
