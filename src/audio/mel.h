// Whisper's log-mel spectrogram, computed as faster-whisper's FeatureExtractor
// and openai-whisper's log_mel_spectrogram(padding=N_SAMPLES) compute it.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "audio/decode.h"
#include "util/thread_pool.h"
#include "util/uninit_vector.h"

namespace amanuensis::audio {

constexpr int kNFft = 400;                              // 25 ms window
constexpr int kNFreqs = kNFft / 2 + 1;                  // one-sided spectrum
using ::amanuensis::kChunkFrames;
using ::amanuensis::kChunkSamples;
using ::amanuensis::kHop;

struct LogMel {
  int n_mels = 0;
  int64_t frames = 0;
  std::vector<float> data;  // [n_mels, frames], row-major
};

// librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm='slaney'):
// [n_mels, kNFreqs], row-major. n_mels is 80 or 128 (large-v3).
std::vector<double> mel_filterbank(int n_mels);

// Whisper's features of 16 kHz mono `samples`: the samples padded at the end
// with kChunkSamples zeros, STFT (periodic Hann, n_fft 400, hop 160, centred
// with reflect padding) without its last frame, power, mel, log10(max(x, 1e-10)),
// clamped to (max - 8), then (x + 4) / 4. That is (n + 480000) / 160 frames, of
// which the first `keep_frames` are returned; the clamp still takes the max over
// all of them, as Whisper does. Throws std::invalid_argument for other n_mels.
//
// Whisper implementations differ past the end of audio shorter than the window.
// This (zeros appended before the STFT) is what openai-whisper gives language
// detection and what whisper.cpp gives everything. The transcribe() of
// openai-whisper and of faster-whisper 1.2.1 instead cut the window at frame
// n / 160 and fill the rest with 0.0 in the mel domain (pad_or_trim), and
// faster-whisper's FeatureExtractor appends only 160 zeros by default. Where
// there is audio they agree with this to float32 rounding (openai-whisper:
// torch.stft and librosa's stored filters; faster-whisper: numpy's FFT and the
// filter formula used here). Frames are split over `pool` if given; the bytes
// do not depend on it.
LogMel log_mel_spectrogram(const std::vector<float>& samples, int n_mels,
                           int64_t keep_frames = std::numeric_limits<int64_t>::max(),
                           ThreadPool* pool = nullptr);

// The encoder's input for the window of `frames` frames at `seek`:
// [n_mels][kChunkFrames], zero past `frames` (faster-whisper pads a short
// window so).
UninitVector<float> window_features(const LogMel& mel, int64_t seek, int64_t frames);

}  // namespace amanuensis::audio
