// Times whisper_encode (conv stem + all encoder layers, one 30 s window) of a
// whisper.cpp build: two warm-ups, then prints the median of RUNS in ms.
// Built and run by tools/whisper_cpp_builds.sh, against whisper.cpp's own
// static libraries; not part of the amanuensis build.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "whisper.h"
int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL THREADS RUNS\n", argv[0]);
    return 2;
  }
  const int threads = atoi(argv[2]), runs = atoi(argv[3]);
  whisper_log_set([](enum ggml_log_level, const char*, void*) {}, nullptr);
  whisper_context_params cp = whisper_context_default_params();
  cp.use_gpu = false;
  whisper_context* ctx = whisper_init_from_file_with_params(argv[1], cp);
  if (!ctx) {
    fprintf(stderr, "load failed\n");
    return 1;
  }
  const int n_mels = whisper_model_n_mels(ctx);
  // The encoder does the same work for any input: a constant log-mel.
  std::vector<float> mel(size_t(n_mels) * 3000, -0.5f);
  if (whisper_set_mel(ctx, mel.data(), 3000, n_mels) != 0) return 1;
  for (int i = 0; i < 2; ++i) whisper_encode(ctx, 0, threads);
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    if (whisper_encode(ctx, 0, threads) != 0) return 1;
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  printf("%.1f\n", t[t.size() / 2]);
  whisper_free(ctx);
}
