// The smallest program on amanuensis's public API: transcribe one file and
// print its segments as they finish. Built against the installed package by
// CI (tests/install_consumer_test.sh).
#include <amanuensis/amanuensis.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL AUDIO\n", argv[0]);
    return 2;
  }
  try {
    const auto model = amanuensis::Model::load(argv[1]);
    amanuensis::Session session(model, 2);
    amanuensis::Callbacks callbacks;
    callbacks.on_segment = [](const amanuensis::Segment& s) {
      std::printf("[%.2f -> %.2f]%s\n", s.start, s.end, s.text.c_str());
    };
    amanuensis::TranscribeOptions options;
    options.beam_size = 1;
    const amanuensis::Transcription t =
        session.transcribe(amanuensis::load_audio(argv[2]), options, callbacks);
    std::printf("language %s, %.1f s of audio\n", t.info.language.c_str(), t.info.duration);
  } catch (const amanuensis::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
