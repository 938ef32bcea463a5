// The numbers every Whisper model shares: its audio rate, its mel frames, its
// 30 s window, its timestamp step and its attention head width. One home, so
// that the audio front end, the model and the transcription loop agree.
#pragma once

#include <cstdint>

namespace amanuensis {

inline constexpr int kSampleRate = 16000;                        // Hz, mono
inline constexpr int kHop = 160;                                 // samples a mel frame (10 ms)
inline constexpr int kFramesPerSecond = kSampleRate / kHop;   // 100
inline constexpr double kFrameSeconds = double(kHop) / kSampleRate;
inline constexpr int kChunkSeconds = 30;                         // one window
inline constexpr int kChunkSamples = kChunkSeconds * kSampleRate;
inline constexpr int64_t kChunkFrames = kChunkSamples / kHop;    // 3000 mel frames
inline constexpr int kFramesPerTimestamp = 2;                    // the encoder's conv stride
inline constexpr int kEncoderFrames = int(kChunkFrames) / kFramesPerTimestamp;  // 1500
inline constexpr double kTimestampSeconds = kFramesPerTimestamp * kFrameSeconds;  // 0.02 s
inline constexpr int kTimestamps = kEncoderFrames + 1;           // <|0.00|> .. <|30.00|>
inline constexpr int kHeadDim = 64;                              // every size's attention heads

}  // namespace amanuensis
