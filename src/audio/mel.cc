#include "audio/mel.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

namespace amanuensis::audio {
namespace {

// Double precision FFTW: at n = 400 the FFT is a sliver of the work, and
// rounding far below faster-whisper's float32 makes any difference theirs.
// Planned once, with FFTW_ESTIMATE so that every run gets the same plan and so
// the same bits (FFTW_MEASURE times candidates and may pick another).
class Fft400 {
 public:
  static const Fft400& get() {
    static const Fft400 fft;  // thread-safe first use; the planner is not
    return fft;
  }
  // out[k] = |FFT(in)[k]|^2 for k < kNFreqs. in and out hold kNFft and kNFreqs doubles.
  void power(double* in, double* out) const {
    fftw_complex spectrum[kNFreqs];
    fftw_execute_dft_r2c(plan_, in, spectrum);
    for (int k = 0; k < kNFreqs; ++k)
      out[k] = spectrum[k][0] * spectrum[k][0] + spectrum[k][1] * spectrum[k][1];
  }

 private:
  Fft400() {
    // Plan on fftw_malloc'd buffers and execute on unaligned ones: say so.
    double* in = fftw_alloc_real(kNFft);
    fftw_complex* out = fftw_alloc_complex(kNFreqs);
    plan_ = fftw_plan_dft_r2c_1d(kNFft, in, out, FFTW_ESTIMATE | FFTW_UNALIGNED);
    fftw_free(in);
    fftw_free(out);
    if (!plan_) throw std::runtime_error("FFTW could not plan a 400-point FFT");
  }
  ~Fft400() { fftw_destroy_plan(plan_); }
  fftw_plan plan_;
};

// Slaney's mel scale (librosa, htk=False): linear below 1 kHz, logarithmic above.
constexpr double kLinearHzPerMel = 200.0 / 3, kLogStartHz = 1000;
constexpr double kLogStartMel = kLogStartHz / kLinearHzPerMel;  // 15
const double kLogStep = std::log(6.4) / 27;

double hz_to_mel(double hz) {
  return hz < kLogStartHz ? hz / kLinearHzPerMel
                          : kLogStartMel + std::log(hz / kLogStartHz) / kLogStep;
}
double mel_to_hz(double mel) {
  return mel < kLogStartMel ? mel * kLinearHzPerMel
                            : kLogStartHz * std::exp(kLogStep * (mel - kLogStartMel));
}

// Whisper's log10 of a mel energy, floored at 1e-10.
double log_energy(double e) { return std::log10(std::max(e, 1e-10)); }

}  // namespace

std::vector<double> mel_filterbank(int n_mels) {
  if (n_mels != 80 && n_mels != 128)
    throw std::invalid_argument("n_mels must be 80 or 128, got " + std::to_string(n_mels));
  // n_mels + 2 band edges evenly spaced in mel from 0 Hz to Nyquist.
  const double top = hz_to_mel(kSampleRate / 2.0);
  std::vector<double> edge(size_t(n_mels) + 2);
  for (int i = 0; i < n_mels + 2; ++i) edge[size_t(i)] = mel_to_hz(top * i / (n_mels + 1));
  std::vector<double> fb(size_t(n_mels) * kNFreqs);
  for (int m = 0; m < n_mels; ++m) {
    const double lo = edge[size_t(m)], mid = edge[size_t(m) + 1], hi = edge[size_t(m) + 2];
    const double norm = 2 / (hi - lo);  // Slaney: the same area under every triangle
    for (int k = 0; k < kNFreqs; ++k) {
      const double f = double(k) * kSampleRate / kNFft;
      const double w = std::min((f - lo) / (mid - lo), (hi - f) / (hi - mid));
      fb[size_t(m) * kNFreqs + size_t(k)] = std::max(0.0, w) * norm;
    }
  }
  return fb;
}

LogMel log_mel_spectrogram(const std::vector<float>& samples, int n_mels, int64_t keep_frames,
                           ThreadPool* pool) {
  const std::vector<double> fb = mel_filterbank(n_mels);
  // Each triangle's non-zero bins, to skip the zeros of the [n_mels, kNFreqs] product.
  std::vector<std::pair<int, int>> span(size_t(n_mels), {0, 0});
  for (int m = 0; m < n_mels; ++m) {
    const double* row = &fb[size_t(m) * kNFreqs];
    int b = 0, e = kNFreqs;
    while (b < e && row[b] == 0) ++b;
    while (e > b && row[e - 1] == 0) --e;
    span[size_t(m)] = {b, e};
  }
  double window[kNFft];  // periodic Hann, torch.hann_window(400) / np.hanning(401)[:-1]
  for (int j = 0; j < kNFft; ++j)
    window[j] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / kNFft);

  const int64_t n = int64_t(samples.size());
  const int64_t frames = (n + kChunkSamples) / kHop;  // torch.stft's 1 + n/hop, less the last
  LogMel out;
  out.n_mels = n_mels;
  out.frames = std::clamp<int64_t>(keep_frames, 0, frames);
  out.data.resize(size_t(n_mels) * size_t(out.frames));
  // Sample i of the zero-padded signal seen through the centred STFT's reflect
  // padding: x[-i] = x[i] at the start; the end reflects the zero padding.
  auto at = [&](int64_t i) -> double {
    i = std::abs(i);
    return i < n ? samples[size_t(i)] : 0.0;
  };
  // A frame that starts past the end of the audio sees only the zero padding:
  // its mel energies are 0 and their logs exactly log10(1e-10).
  const int64_t first_silent = std::clamp<int64_t>((n + kNFft / 2 + kHop - 1) / kHop, 0, frames);
  const double silent_log = log_energy(0);
  const Fft400& fft = Fft400::get();
  constexpr int kFramesPerItem = 64;
  const int items = int((first_silent + kFramesPerItem - 1) / kFramesPerItem);
  std::vector<double> item_max(size_t(items), -HUGE_VAL);
  auto frames_of = [&](int item) {
    double frame[kNFft], power[kNFreqs];
    const int64_t t1 = std::min(first_silent, int64_t(item + 1) * kFramesPerItem);
    for (int64_t t = int64_t(item) * kFramesPerItem; t < t1; ++t) {
      for (int j = 0; j < kNFft; ++j) frame[j] = at(t * kHop + j - kNFft / 2) * window[j];
      fft.power(frame, power);
      for (int m = 0; m < n_mels; ++m) {
        const double* row = &fb[size_t(m) * kNFreqs];
        double e = 0;
        for (int k = span[size_t(m)].first; k < span[size_t(m)].second; ++k) e += row[k] * power[k];
        const double log_e = log_energy(e);
        item_max[size_t(item)] = std::max(item_max[size_t(item)], log_e);
        if (t < out.frames) out.data[size_t(m) * size_t(out.frames) + size_t(t)] = float(log_e);
      }
    }
  };
  if (pool) {
    pool->parallel_for(items, frames_of);
  } else {
    for (int item = 0; item < items; ++item) frames_of(item);
  }
  double max_log = first_silent < frames ? silent_log : -HUGE_VAL;
  for (double m : item_max) max_log = std::max(max_log, m);  // exact: any order
  for (int64_t t = first_silent; t < out.frames; ++t)
    for (int m = 0; m < n_mels; ++m)
      out.data[size_t(m) * size_t(out.frames) + size_t(t)] = float(silent_log);
  const double floor = max_log - 8;
  for (float& v : out.data) v = float((std::max(double(v), floor) + 4) / 4);
  return out;
}

UninitVector<float> window_features(const LogMel& mel, int64_t seek, int64_t frames) {
  UninitVector<float> w(size_t(mel.n_mels) * kChunkFrames);
  std::fill(w.begin(), w.end(), 0.0f);
  for (int c = 0; c < mel.n_mels; ++c)
    std::copy_n(mel.data.begin() + c * mel.frames + seek, frames, w.begin() + c * kChunkFrames);
  return w;
}

}  // namespace amanuensis::audio
