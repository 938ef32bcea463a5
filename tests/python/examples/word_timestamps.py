# faster-whisper's README, "Word-level timestamps", with the segments run
# eagerly by list() as its "Going further" section shows.
import sys

from faster_whisper import WhisperModel

audio, model_size = sys.argv[1], sys.argv[2]
model = WhisperModel(model_size, device="cpu", compute_type="int8")

segments, _ = model.transcribe(audio, word_timestamps=True)
segments = list(segments)  # The transcription will actually run here.

for segment in segments:
    for word in segment.words:
        print("[%.2fs -> %.2fs] %s" % (word.start, word.end, word.word))
