#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "audio/mel.h"
#include "test_support.h"

namespace amanuensis::audio {
namespace {

void put(std::vector<uint8_t>& b, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// A RIFF WAVE file of interleaved samples: PCM int16 or IEEE float32.
std::vector<uint8_t> wav(const std::vector<float>& samples, int rate, int channels = 1,
                         bool float32 = false) {
  const uint32_t width = float32 ? 4 : 2, data = uint32_t(samples.size()) * width;
  std::vector<uint8_t> b = {'R', 'I', 'F', 'F'};
  put(b, 36 + data, 4);
  for (char c : std::string("WAVEfmt ")) b.push_back(uint8_t(c));
  put(b, 16, 4);
  put(b, float32 ? 3 : 1, 2);
  put(b, uint32_t(channels), 2);
  put(b, uint32_t(rate), 4);
  put(b, uint32_t(rate * channels) * width, 4);
  put(b, uint32_t(channels) * width, 2);
  put(b, width * 8, 2);
  for (char c : std::string("data")) b.push_back(uint8_t(c));
  put(b, data, 4);
  for (float x : samples) {
    uint32_t bits;
    if (float32)
      std::memcpy(&bits, &x, 4);
    else
      bits = uint32_t(int32_t(std::lround(std::clamp(x, -1.0f, 1.0f) * 32767)));
    put(b, bits, int(width));
  }
  return b;
}

std::vector<float> sine(double hz, int rate, double seconds, double amp = 0.5) {
  std::vector<float> x(size_t(rate * seconds));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(amp * std::sin(2 * std::numbers::pi * hz * double(i) / rate));
  return x;
}

std::string write_temp(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return path;
}

std::vector<float> decode(const std::vector<uint8_t>& bytes, double max_seconds = kMaxSeconds) {
  return decode_audio_16k_mono(bytes.data(), bytes.size(), "mem", max_seconds);
}

template <class F>
void expect_audio_error(F&& f, const std::string& needle) {
  test::expect_error<AudioError>(f, needle);
}

TEST(Decode, MissingFile) {
  expect_audio_error([] { load_audio_16k_mono("/nonexistent/a.wav"); },
                     "/nonexistent/a.wav: cannot open");
}

TEST(Decode, EmptyFile) {
  const std::string path = write_temp("empty.wav", {});
  expect_audio_error([&] { load_audio_16k_mono(path); }, path + ": is an empty file");
  expect_audio_error([] { decode({}); }, "empty");
  std::remove(path.c_str());
}

TEST(Decode, TextFile) {
  const std::string text = "RIFF? No: just some words in a text file.\n";
  const std::string path = write_temp("text.wav", {text.begin(), text.end()});
  expect_audio_error([&] { load_audio_16k_mono(path); }, path + ": not a readable audio file");
  std::remove(path.c_str());
}

TEST(Decode, ZeroLengthWav) {
  expect_audio_error([] { decode(wav({}, 16000)); }, "no audio samples");
}

TEST(Decode, TruncatedWav) {
  std::vector<uint8_t> b = wav(sine(440, 16000, 0.5), 16000);
  b.resize(b.size() / 2);
  expect_audio_error([&] { decode(b); }, "truncated");
  b.resize(30);  // inside the fmt chunk
  expect_audio_error([&] { decode(b); }, "not a readable audio file");
}

TEST(Decode, NonFiniteFloatWav) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> x = sine(440, 16000, 0.1);
    x[123] = bad;
    expect_audio_error([&] { decode(wav(x, 16000, 1, true)); },
                       "sample 123 of channel 0 is NaN or infinite");
  }
}

TEST(Decode, RefusesTooLong) {
  expect_audio_error([] { decode(wav(sine(440, 8000, 2.5), 8000), 2.0); }, "limit is 2 s");
}

TEST(Decode, SixteenKilohertzInt16IsExact) {
  const std::vector<float> x = {0.0f, 0.5f, -0.25f, 1.0f, -1.0f};
  const std::vector<float> y = decode(wav(x, 16000));
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(y[i], float(std::lround(x[i] * 32767)) / 32768) << i;
}

TEST(Decode, ChannelsAreAveraged) {
  const std::vector<float> stereo = {0.5f, -0.25f, 0.5f, -0.25f, 0.5f, -0.25f};
  for (float y : decode(wav(stereo, 16000, 2, true))) EXPECT_EQ(y, 0.125f);
}

TEST(Decode, FileAndMemoryAgree) {
  const std::vector<uint8_t> b = wav(sine(1000, 44100, 0.3), 44100);
  const std::string path = write_temp("tone.wav", b);
  EXPECT_EQ(load_audio_16k_mono(path), decode(b));
  std::remove(path.c_str());
}

// Away from the edges a resampled sine is the 16 kHz sine, to about SOXR_HQ's
// 20 bits; the length scales with the rate.
TEST(Decode, ResamplesTo16k) {
  for (int rate : {8000, 22050, 44100, 48000, 96000}) {
    const std::vector<float> y = decode(wav(sine(1000, rate, 1.0), rate, 1, true));
    const std::vector<float> want = sine(1000, 16000, 1.0);
    ASSERT_EQ(y.size(), want.size()) << rate;
    float worst = 0;
    for (size_t i = 1000; i + 1000 < y.size(); ++i)
      worst = std::max(worst, std::abs(y[i] - want[i]));
    EXPECT_LT(worst, 2e-6) << rate;  // 16-bit recipes (SOXR_LQ, SOXR_MQ) would miss
  }
}

TEST(Mel, FilterbankIsLibrosaSlaney) {
  // Values from librosa's formula in float64 (faster-whisper's get_mel_filters).
  const std::vector<double> fb = mel_filterbank(80);
  ASSERT_EQ(fb.size(), size_t(80) * kNFreqs);
  EXPECT_NEAR(fb[0 * kNFreqs + 1], 0.024862593984176087, 1e-15);
  EXPECT_NEAR(fb[26 * kNFreqs + 25], 0.022114217267094387, 1e-15);
  EXPECT_NEAR(fb[79 * kNFreqs + 199], 0.00044875902758905584, 1e-15);
  EXPECT_EQ(fb[79 * kNFreqs + 200], 0.0);
  EXPECT_THROW(mel_filterbank(64), std::invalid_argument);
}

TEST(Mel, FrameCount) {
  EXPECT_EQ(log_mel_spectrogram({}, 80).frames, kChunkFrames);
  EXPECT_EQ(log_mel_spectrogram(std::vector<float>(16000), 80).frames, 3100);
  EXPECT_EQ(log_mel_spectrogram(std::vector<float>(16159), 80).frames, 3100);
  const LogMel m = log_mel_spectrogram(sine(440, 16000, 45), 128, kChunkFrames);
  EXPECT_EQ(m.frames, 3000);
  EXPECT_EQ(m.data.size(), size_t(128) * 3000);
}

TEST(Mel, SinePeaksInItsBand) {
  // 1 kHz is FFT bin 25, the peak of band 26 of 80 and band 42 of 128.
  for (auto [n_mels, band] : {std::pair{80, 26}, std::pair{128, 42}}) {
    const LogMel m = log_mel_spectrogram(sine(1000, 16000, 1.0), n_mels);
    for (int64_t t = 5; t < 95; ++t) {
      int best = 0;
      for (int b = 1; b < n_mels; ++b)
        if (m.data[size_t(b * m.frames + t)] > m.data[size_t(best * m.frames + t)]) best = b;
      ASSERT_EQ(best, band) << "frame " << t;
    }
  }
}

TEST(Mel, SilenceIsTheFloor) {
  // log10(1e-10) = -10 everywhere, so the max is -10 too: (-10 + 4) / 4.
  for (float v : log_mel_spectrogram(std::vector<float>(5000), 80).data) ASSERT_EQ(v, -1.5f);
}

TEST(Mel, PaddingIsZeros) {
  // 1 s of sine: frames whose 400-sample window starts past the audio see only
  // the zero padding and sit at the floor, (max - 8 + 4) / 4; earlier ones do not.
  const LogMel m = log_mel_spectrogram(sine(1000, 16000, 1.0), 80, kChunkFrames);
  const float floor = *std::min_element(m.data.begin(), m.data.end());
  const float top = *std::max_element(m.data.begin(), m.data.end());
  EXPECT_NEAR(floor, top - 2, 1e-6);
  const int64_t first_silent = (16000 + kNFft / 2 + kHop - 1) / kHop;  // 102
  for (int64_t t = first_silent; t < m.frames; ++t)
    for (int b = 0; b < 80; ++b) ASSERT_EQ(m.data[size_t(b * m.frames + t)], floor) << t;
  // The last frame that sees audio (its window reaches 40 samples into it) is above the floor.
  float last_heard = floor;
  for (int b = 0; b < 80; ++b)
    last_heard = std::max(last_heard, m.data[size_t(b * m.frames + first_silent - 1)]);
  EXPECT_GT(last_heard, floor);
}

TEST(Mel, ClampUsesTheWholeInput) {
  // Quiet noise for 35 s, then a loud tone: the first window's floor is set by
  // the tone it does not contain, as in Whisper.
  std::vector<float> x(size_t(16000 * 35));
  uint32_t seed = 1;
  for (float& v : x) {
    seed = seed * 1664525 + 1013904223;  // any quiet noise will do
    v = 1e-3f * (float(seed >> 8) / 16777216 - 0.5f);
  }
  const std::vector<float> tone = sine(440, 16000, 5, 0.9);
  x.insert(x.end(), tone.begin(), tone.end());
  const LogMel first = log_mel_spectrogram(x, 80, kChunkFrames);
  const LogMel all = log_mel_spectrogram(x, 80);
  ASSERT_EQ(all.frames, (int64_t(x.size()) + kChunkSamples) / kHop);
  for (int b = 0; b < 80; ++b)
    for (int64_t t = 0; t < kChunkFrames; ++t)
      ASSERT_EQ(first.data[size_t(b * kChunkFrames + t)], all.data[size_t(b * all.frames + t)]);
  x.resize(size_t(16000 * 30));
  EXPECT_NE(log_mel_spectrogram(x, 80, kChunkFrames).data, first.data);
}

TEST(Mel, ThreadCountDoesNotChangeTheBytes) {
  std::vector<float> x = sine(440, 16000, 41, 0.5);  // longer than a window
  x[12345] = 1.0f;
  for (const size_t len : {size_t(0), size_t(1), size_t(3333), x.size()}) {
    const std::vector<float> part(x.begin(), x.begin() + len);
    const LogMel serial = log_mel_spectrogram(part, 80, kChunkFrames);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      EXPECT_EQ(log_mel_spectrogram(part, 80, kChunkFrames, &pool).data, serial.data)
          << len << " " << threads;
    }
  }
}

}  // namespace
}  // namespace amanuensis::audio
