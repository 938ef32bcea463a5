# faster-whisper's README, "Usage": transcribe a file and print each segment
# (its CPU line). Run as `python3 basic.py AUDIO MODEL`.
import sys

from faster_whisper import WhisperModel

audio, model_size = sys.argv[1], sys.argv[2]

# Run on CPU with INT8
model = WhisperModel(model_size, device="cpu", compute_type="int8")

segments, info = model.transcribe(audio, beam_size=5)

print("Detected language '%s' with probability %f" % (info.language, info.language_probability))

for segment in segments:
    print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text))
