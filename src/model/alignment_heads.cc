#include "model/alignment_heads.h"

namespace amanuensis {
namespace {

struct KnownSize {
  int layers, d_model;
  bool multilingual;
  bool cantonese;  // large-v3's vocabulary (51866 tokens)
  std::vector<std::pair<int, int>> heads;
};

// openai-whisper's _ALIGNMENT_HEADS, decoded from its packed masks.
const std::vector<KnownSize>& known_sizes() {
  static const std::vector<KnownSize> sizes = {
      {4, 384, false, false, {{1, 0}, {2, 0}, {2, 5}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}}},
      {4, 384, true, false, {{2, 2}, {3, 0}, {3, 2}, {3, 3}, {3, 4}, {3, 5}}},
      {6, 512, false, false, {{3, 3}, {4, 7}, {5, 1}, {5, 5}, {5, 7}}},
      {6, 512, true, false, {{3, 1}, {4, 2}, {4, 3}, {4, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 6}}},
      {12,
       768,
       false,
       false,
       {{6, 6},
        {7, 0},
        {7, 3},
        {7, 8},
        {8, 2},
        {8, 5},
        {8, 7},
        {9, 0},
        {9, 4},
        {9, 8},
        {9, 10},
        {10, 0},
        {10, 1},
        {10, 2},
        {10, 3},
        {10, 6},
        {10, 11},
        {11, 2},
        {11, 4}}},
      {12,
       768,
       true,
       false,
       {{5, 3}, {5, 9}, {8, 0}, {8, 4}, {8, 7}, {8, 8}, {9, 0}, {9, 7}, {9, 9}, {10, 5}}},
      {24,
       1024,
       false,
       false,
       {{11, 4},
        {14, 1},
        {14, 12},
        {14, 14},
        {15, 4},
        {16, 0},
        {16, 4},
        {16, 9},
        {17, 12},
        {17, 14},
        {18, 7},
        {18, 10},
        {18, 15},
        {20, 0},
        {20, 3},
        {20, 9},
        {20, 14},
        {21, 12}}},
      {24, 1024, true, false, {{13, 15}, {15, 4}, {15, 15}, {16, 1}, {20, 0}, {23, 4}}},
      {32, 1280, true, false, {{10, 12}, {13, 17}, {16, 11}, {16, 12}, {16, 13}, {17, 15},
                               {17, 16}, {18, 4},  {18, 11}, {18, 19}, {19, 11}, {21, 2},
                               {21, 3},  {22, 3},  {22, 9},  {22, 12}, {23, 5},  {23, 7},
                               {23, 13}, {25, 5},  {26, 1},  {26, 12}, {27, 15}}},
      {32,
       1280,
       true,
       true,
       {{7, 0},
        {10, 17},
        {12, 18},
        {13, 12},
        {16, 1},
        {17, 14},
        {19, 11},
        {21, 4},
        {24, 1},
        {25, 6}}},
      {4, 1280, true, true, {{2, 4}, {2, 11}, {3, 3}, {3, 6}, {3, 11}, {3, 14}}},
  };
  return sizes;
}

}  // namespace

std::vector<std::pair<int, int>> default_alignment_heads(int decoder_layers, int d_model,
                                                         int n_heads, int n_vocab) {
  const bool multilingual = n_vocab >= 51865, cantonese = n_vocab >= 51866;
  for (const KnownSize& s : known_sizes())
    if (s.layers == decoder_layers && s.d_model == d_model && s.multilingual == multilingual &&
        s.cantonese == cantonese)
      return s.heads;
  std::vector<std::pair<int, int>> heads;
  for (int l = decoder_layers / 2; l < decoder_layers; ++l)
    for (int h = 0; h < n_heads; ++h) heads.emplace_back(l, h);
  return heads;
}

}  // namespace amanuensis
