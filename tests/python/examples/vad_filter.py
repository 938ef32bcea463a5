# faster-whisper's README, "VAD filter", with its custom parameters, and its
# "Logging" lines.
import logging
import sys

from faster_whisper import WhisperModel, decode_audio

logging.basicConfig()
logging.getLogger("faster_whisper").setLevel(logging.DEBUG)

audio, model_size = sys.argv[1], sys.argv[2]
model = WhisperModel(model_size, device="cpu", compute_type="int8", cpu_threads=2)

segments, _ = model.transcribe(audio, vad_filter=True)
print("".join(segment.text for segment in segments))

segments, info = model.transcribe(
    decode_audio(audio),
    vad_filter=True,
    vad_parameters=dict(min_silence_duration_ms=500),
)
print("%.2f s of %.2f s is speech" % (info.duration_after_vad, info.duration))
print("".join(segment.text for segment in segments))
