// The FFmpeg fallback of src/audio/decode.cc: files that libsndfile cannot open
// (m4a/AAC, WebM, MP4/MKV/MOV with video) made at test time by the ffmpeg CLI
// from synthetic WAV files, then decoded and compared with the libsndfile decode
// of the same WAV. The ffmpeg CLI is required (scripts/setup.sh installs it):
// without it these tests fail, they do not skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "audio/libav.h"
#include "test_support.h"

namespace amanuensis::audio {
namespace {

void put(std::vector<uint8_t>& b, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// A 16-bit PCM WAV file of interleaved samples.
std::vector<uint8_t> wav16(const std::vector<float>& samples, int rate, int channels) {
  const uint32_t data = uint32_t(samples.size()) * 2;
  std::vector<uint8_t> b = {'R', 'I', 'F', 'F'};
  put(b, 36 + data, 4);
  for (char c : std::string("WAVEfmt ")) b.push_back(uint8_t(c));
  put(b, 16, 4);
  put(b, 1, 2);
  put(b, uint32_t(channels), 2);
  put(b, uint32_t(rate), 4);
  put(b, uint32_t(rate * channels) * 2, 4);
  put(b, uint32_t(channels) * 2, 2);
  put(b, 16, 2);
  for (char c : std::string("data")) b.push_back(uint8_t(c));
  put(b, data, 4);
  for (float x : samples)
    put(b, uint32_t(int32_t(std::lround(std::clamp(x, -1.0f, 1.0f) * 32767))), 2);
  return b;
}

float tone(double hz, int rate, size_t i, double amp) {
  return float(amp * std::sin(2 * std::numbers::pi * hz * double(i) / rate));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

constexpr double kSeconds = 2.0;

// The test files, made once per run in a fresh folder.
struct Files {
  std::string dir, error;  // error: why they could not be made
  std::string path(const std::string& name) const { return dir + "/" + name; }
  ~Files() {
    if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
  }
};

const Files& files() {
  static const Files f = [] {
    Files f;
    f.dir = ::testing::TempDir() + "/amanuensis_ffmpeg_" + std::to_string(::getpid());
    if (std::system(("mkdir -p '" + f.dir + "'").c_str()) != 0) {
      f.error = "cannot create " + f.dir;
      return f;
    }
    if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) {
      f.error = "the ffmpeg CLI is not installed (bash scripts/setup.sh installs it)";
      return f;
    }
    // Mono 440 Hz at 44.1 kHz; stereo at 48 kHz, 440 Hz left and 1 kHz right.
    std::vector<float> mono, stereo;
    for (size_t i = 0; i < size_t(44100 * kSeconds); ++i) mono.push_back(tone(440, 44100, i, 0.5));
    for (size_t i = 0; i < size_t(48000 * kSeconds); ++i) {
      stereo.push_back(tone(440, 48000, i, 0.5));
      stereo.push_back(tone(1000, 48000, i, 0.5));
    }
    write_bytes(f.path("mono44k.wav"), wav16(mono, 44100, 1));
    write_bytes(f.path("stereo48k.wav"), wav16(stereo, 48000, 2));
    const std::string ff = "cd '" + f.dir + "' && ffmpeg -nostdin -y -v error ";
    const std::string video = "-f lavfi -i testsrc=size=64x48:rate=10:duration=2 ";
    const char* commands[] = {
        "-i mono44k.wav -c:a aac -b:a 128k mono44k.m4a",
        "-i mono44k.wav -c:a aac -b:a 128k -movflags +faststart mono44k_faststart.m4a",
        "-i stereo48k.wav -c:a aac -b:a 192k stereo48k.m4a",
        "-i mono44k.wav -c:a libopus -b:a 96k mono44k.opus",
        "-i stereo48k.wav -c:a libopus -b:a 128k stereo48k.webm",
        "-i mono44k.wav -vn -c:a libvorbis mono44k_vorbis.webm",
        "-i stereo48k.wav -c:a aac -f adts stereo48k.aac",
        nullptr,  // the video ones below need the lavfi source first
    };
    for (const char* c : commands) {
      if (!c) break;
      if (std::system((ff + c).c_str()) != 0) {
        f.error = std::string("ffmpeg failed: ffmpeg ") + c;
        return f;
      }
    }
    const std::string with_video[] = {
        video + "-i mono44k.wav -map 0:v -map 1:a -c:v mpeg4 -c:a aac -shortest video_aac.mp4",
        video + "-i stereo48k.wav -map 0:v -map 1:a -c:v mpeg4 -c:a libvorbis -shortest video.mkv",
        video + "-i mono44k.wav -map 0:v -map 1:a -c:v mpeg4 -c:a pcm_s16le -shortest video.mov",
        video + "-c:v mpeg4 video_only.mp4",
    };
    for (const std::string& c : with_video)
      if (std::system((ff + c).c_str()) != 0) {
        f.error = "ffmpeg failed: ffmpeg " + c;
        return f;
      }
    return f;
  }();
  return f;
}

#define REQUIRE_FILES() ASSERT_TRUE(files().error.empty()) << files().error

template <class F>
void expect_audio_error(F&& f, const std::string& needle) {
  test::expect_error<AudioError>(f, needle);
}

// The amplitude of the `hz` component of x[from, to) at 16 kHz.
double amplitude(const std::vector<float>& x, double hz, size_t from, size_t to) {
  std::complex<double> s = 0;
  for (size_t i = from; i < to; ++i)
    s += double(x[i]) * std::polar(1.0, -2 * std::numbers::pi * hz * double(i) / kSampleRate);
  return 2 * std::abs(s) / double(to - from);
}

// The strongest frequency between 100 Hz and 4 kHz, on a 10 Hz grid.
double dominant_hz(const std::vector<float>& x) {
  const size_t from = x.size() / 4, to = from + 8000;  // half a second from the middle
  double best = 0, best_hz = 0;
  for (double hz = 100; hz <= 4000; hz += 10)
    if (double a = amplitude(x, hz, from, to); a > best) best = a, best_hz = hz;
  return best_hz;
}

// RMS(y - ref) / RMS(ref) over the middle of the signal at the best shift of y
// within ±16 samples of `expected` (a codec may leave a delay; the tones repeat
// every 400 samples, so a wider search would find them a period away); the shift too.
std::pair<double, int> relative_error(const std::vector<float>& y, const std::vector<float>& ref,
                                      int expected) {
  const size_t from = 2000, to = std::min(y.size(), ref.size()) - 2000;
  double best = 1e9;
  int best_shift = 0;
  for (int shift = expected - 16; shift <= expected + 16; ++shift) {
    double err = 0, norm = 0;
    for (size_t i = from; i < to; ++i) {
      const double d = double(y[size_t(int64_t(i) + shift)]) - ref[i];
      err += d * d;
      norm += double(ref[i]) * ref[i];
    }
    if (std::sqrt(err / norm) < best) best = std::sqrt(err / norm), best_shift = shift;
  }
  return {best, best_shift};
}

struct Case {
  const char* file;
  const char* source;  // the WAV it was made from
  double max_error;    // relative to the libsndfile decode of the WAV
  int delay = 0;       // samples at 16 kHz
};

// Each format decodes to the source's length (within codec padding: 0.05 s),
// its tone, and close to the libsndfile decode of the source WAV.
TEST(DecodeFfmpeg, FormatsMatchTheirSource) {
  REQUIRE_FILES();
  const Case cases[] = {
      {"mono44k.m4a", "mono44k.wav", 0.05},       {"mono44k_faststart.m4a", "mono44k.wav", 0.05},
      {"stereo48k.m4a", "stereo48k.wav", 0.05},   {"mono44k.opus", "mono44k.wav", 0.05},
      {"stereo48k.webm", "stereo48k.wav", 0.05},  {"mono44k_vorbis.webm", "mono44k.wav", 0.05},
      // Raw ADTS has no edit list to drop the encoder's 1024 priming samples
      // (341.3 at 16 kHz: the third of a sample left over costs accuracy).
      {"stereo48k.aac", "stereo48k.wav", 0.2, 341},
      {"video_aac.mp4", "mono44k.wav", 0.05},
      {"video.mkv", "stereo48k.wav", 0.05},       {"video.mov", "mono44k.wav", 1e-9},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    const std::vector<float> ref = load_audio_16k_mono(files().path(c.source));
    std::vector<float> y;
    try {
      y = load_audio_16k_mono(files().path(c.file));
    } catch (const AudioError& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    EXPECT_NEAR(double(y.size()), kSeconds * kSampleRate, 0.05 * kSampleRate);
    const auto [err, shift] = relative_error(y, ref, c.delay);
    EXPECT_LT(err, c.max_error) << "best shift " << shift;
    EXPECT_LE(std::abs(shift - c.delay), 2);
    if (std::string(c.source) == "mono44k.wav") {
      EXPECT_EQ(dominant_hz(y), 440);
    }
  }
}

// Stereo is averaged: 440 Hz left and 1 kHz right at 0.5 each give both at 0.25.
TEST(DecodeFfmpeg, StereoIsAveraged) {
  REQUIRE_FILES();
  for (const char* file : {"stereo48k.m4a", "stereo48k.webm", "video.mkv"}) {
    SCOPED_TRACE(file);
    const std::vector<float> y = load_audio_16k_mono(files().path(file));
    ASSERT_GT(y.size(), size_t(20000));
    EXPECT_NEAR(amplitude(y, 440, 4000, 20000), 0.25, 0.01);
    EXPECT_NEAR(amplitude(y, 1000, 4000, 20000), 0.25, 0.01);
  }
}

// The uncompressed PCM in a .mov goes through FFmpeg and the shared channel
// average and resampler: the same samples as libsndfile's decode of the WAV.
TEST(DecodeFfmpeg, PcmInMovIsExactlyTheWav) {
  REQUIRE_FILES();
  EXPECT_EQ(load_audio_16k_mono(files().path("video.mov")),
            load_audio_16k_mono(files().path("mono44k.wav")));
}

TEST(DecodeFfmpeg, FileAndMemoryAgree) {
  REQUIRE_FILES();
  for (const char* file : {"mono44k.m4a", "stereo48k.webm", "video_aac.mp4", "stereo48k.aac"}) {
    const std::vector<uint8_t> b = read_bytes(files().path(file));
    EXPECT_EQ(load_audio_16k_mono(files().path(file)),
              decode_audio_16k_mono(b.data(), b.size(), file))
        << file;
  }
}

TEST(DecodeFfmpeg, VideoWithoutAudio) {
  REQUIRE_FILES();
  const std::string path = files().path("video_only.mp4");
  expect_audio_error([&] { load_audio_16k_mono(path); }, path + ": no audio stream");
  const std::vector<uint8_t> b = read_bytes(path);
  expect_audio_error([&] { decode_audio_16k_mono(b.data(), b.size(), "mem"); },
                     "mem: no audio stream");
}

TEST(DecodeFfmpeg, RefusesTooLong) {
  REQUIRE_FILES();
  for (const char* file : {"mono44k.m4a", "stereo48k.webm", "stereo48k.aac"})
    expect_audio_error([&] { load_audio_16k_mono(files().path(file), 1.0); }, "limit is 1 s");
}

// Truncated files are refused with one line, never returned as partial audio
// without a word, where the container lets that be seen:
// * an m4a with its index (moov) at the end loses the index: unreadable;
// * one with the index first (faststart) lacks the samples the index lists;
// * a cut WebM (its length in the header) ends short of that length.
TEST(DecodeFfmpeg, TruncatedIsRefused) {
  REQUIRE_FILES();
  const std::pair<const char*, const char*> cases[] = {
      {"mono44k.m4a", "not a readable audio file"},
      {"mono44k_faststart.m4a", "truncated"},
      {"stereo48k.webm", "truncated"},
      {"video_aac.mp4", "not a readable audio file"},
  };
  for (const auto& [file, needle] : cases) {
    SCOPED_TRACE(file);
    std::vector<uint8_t> b = read_bytes(files().path(file));
    b.resize(b.size() / 2);
    expect_audio_error([&] { decode_audio_16k_mono(b.data(), b.size(), "half"); }, needle);
  }
}

// Cut anywhere, or with bytes overwritten anywhere: an AudioError or audio, no crash, no hang.
TEST(DecodeFfmpeg, CutOrDamagedAnywhereDoesNotCrash) {
  REQUIRE_FILES();
  for (const char* file : {"mono44k.m4a", "mono44k_faststart.m4a", "stereo48k.webm",
                           "stereo48k.aac", "video_aac.mp4"}) {
    const std::vector<uint8_t> whole = read_bytes(files().path(file));
    for (size_t cut = 1; cut < whole.size(); cut += whole.size() / 37 + 1) {
      try {
        decode_audio_16k_mono(whole.data(), cut, "cut");
      } catch (const AudioError&) {
      }
    }
    uint32_t seed = 7;
    for (int trial = 0; trial < 30; ++trial) {
      std::vector<uint8_t> b = whole;
      for (int k = 0; k < 8; ++k) {
        seed = seed * 1664525 + 1013904223;
        b[seed % b.size()] = uint8_t(seed >> 24);
      }
      try {
        const std::vector<float> y = decode_audio_16k_mono(b.data(), b.size(), "damaged");
        for (float v : y) ASSERT_TRUE(std::isfinite(v));
      } catch (const AudioError&) {
      }
    }
  }
}

TEST(DecodeFfmpeg, GarbageAndText) {
  std::vector<uint8_t> noise(4096);
  uint32_t seed = 1;
  for (uint8_t& v : noise) {
    seed = seed * 1664525 + 1013904223;
    v = uint8_t(seed >> 24);
  }
  expect_audio_error([&] { decode_audio_16k_mono(noise.data(), noise.size(), "noise"); },
                     "noise: not a readable audio file");
  const std::string text = "Just a few words.\nNothing to hear here.\n";
  expect_audio_error(
      [&] {
        decode_audio_16k_mono(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "text");
      },
      "text: not a readable audio file");
  const uint8_t one = 0;
  expect_audio_error([&] { decode_audio_16k_mono(&one, 1, "one byte"); }, "one byte: ");
}

// Formats that point at other files (here an ffconcat list naming a WAV that
// exists) must not open them: only the bytes given are read.
TEST(DecodeFfmpeg, DoesNotOpenOtherFiles) {
  REQUIRE_FILES();
  // A relative name, from the folder that holds it: concat's safe mode allows that.
  const std::string list = "ffconcat version 1.0\nfile 'mono44k.wav'\n";
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(files().dir.c_str()), 0);
  try {
    decode_audio_16k_mono(reinterpret_cast<const uint8_t*>(list.data()), list.size(), "list");
    ADD_FAILURE() << "decoded the file a concat list names";
  } catch (const AudioError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  ASSERT_EQ(::chdir(cwd), 0);
}

TEST(LibAv, OpensEveryFunctionOrSaysWhyNot) {
  std::string error;
  const std::optional<LibAv> av = open_libav(libav_sonames(), &error);
  ASSERT_TRUE(av) << error;
#define EXPECT_FOUND(name) EXPECT_NE(av->name, nullptr) << #name;
  AMANUENSIS_LIBAV_FUNCTIONS(EXPECT_FOUND)
#undef EXPECT_FOUND
  EXPECT_EQ(libav(&error)->avformat_open_input, av->avformat_open_input);

  std::vector<std::string> missing = libav_sonames();
  missing.back() = "libavformat.so.0";  // no FFmpeg has that soname
  error.clear();
  EXPECT_FALSE(open_libav(missing, &error));
  EXPECT_NE(error.find("libavformat.so.0"), std::string::npos) << error;
}

}  // namespace
}  // namespace amanuensis::audio
