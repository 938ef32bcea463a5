#!/usr/bin/env python3
"""Silero VAD in the engine against faster-whisper's own pipeline.

The engine runs Silero VAD v6.0, the network faster-whisper 1.2.1 ships as
faster_whisper/assets/silero_vad_v6.onnx (scripts/fetch_models.py converts the
same tensors from silero-vad 6.0.0's silero_vad_16k_op15.onnx). So the
references are the real thing, not a re-implementation:

  (a) per-chunk probabilities against faster-whisper's SileroVADModel
      (onnxruntime on its bundled ONNX, its padding, context and batching), on
      every file of tests/data/speech/ and on synthetic files (long digital
      silence, long pauses, low noise, lengths at the padding edge cases);
  (b) speech intervals against faster_whisper.vad.get_speech_timestamps with
      its own model, for the default VadOptions and non-default ones: the same
      number of intervals, every boundary within one 512-sample frame;
  (c) where torch is importable (it is not in scripts/requirements-test.txt, a
      multi-GB install): silero-vad 6.0.0's own get_speech_timestamps and
      TorchScript model, both taken from the 6.0.0 wheel without installing it,
      on the option sets where its rules are faster-whisper's, on every file
      under two minutes (it runs one chunk per call). Without torch the test
      says that this comparison did not run;
  (d) the CLI: `transcribe --vad` keeps the original timeline, says nothing on
      pure silence and pure noise, and bad VAD options give one error line.
"""
import argparse
import dataclasses
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
import soundfile as sf
from faster_whisper import decode_audio
from faster_whisper import vad as fw_vad
from testdata import MODELS, SPEECH, dev_tool
from checks import check, finish

REPO = pathlib.Path(__file__).resolve().parent.parent
WEIGHTS = MODELS / "silero-vad" / "silero_vad_v6_16k.safetensors"
SR = 16000
# Our float32 C++ against onnxruntime's float32 kernels (other summation
# orders, other exp/tanh): measured max 2.7e-6 on these files. 1e-4 leaves
# room for other CPUs' onnxruntime kernels and still catches any wrong tap,
# gate or padding, which moves probabilities by 1e-2 or more.
PROB_TOLERANCE = 1e-4
FRAME = 512  # boundaries may differ by one chunk where a probability sits on a threshold
# (name, faster-whisper VadOptions fields, our CLI flags)
OPTION_SETS = [
    ("default", {}, []),
    ("threshold 0.35, min silence 300 ms", {"threshold": 0.35, "min_silence_duration_ms": 300},
     ["--vad-threshold", "0.35", "--vad-min-silence-ms", "300"]),
    ("threshold 0.7, min silence 100 ms, speech pad 30 ms, min speech 250 ms",
     {"threshold": 0.7, "min_silence_duration_ms": 100, "speech_pad_ms": 30,
      "min_speech_duration_ms": 250},
     ["--vad-threshold", "0.7", "--vad-min-silence-ms", "100", "--vad-speech-pad-ms", "30",
      "--vad-min-speech-ms", "250"]),
    ("max speech 3 s, min silence 500 ms, speech pad 200 ms",
     {"max_speech_duration_s": 3.0, "min_silence_duration_ms": 500, "speech_pad_ms": 200},
     ["--vad-max-speech-s", "3", "--vad-min-silence-ms", "500", "--vad-speech-pad-ms", "200"]),
]




def ours(exe, wav, *extra):
    r = subprocess.run([dev_tool(exe), "vad", str(wav), "--json", *extra], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"amanuensis-dev vad failed: {r.stderr}")
    out = json.loads(r.stdout)
    out["speech"] = [(round(s["start"] * SR), round(s["end"] * SR)) for s in out["speech"]]
    return out


def write_wav(folder, name, audio):
    path = pathlib.Path(folder) / f"{name}.wav"
    sf.write(str(path), audio.astype(np.float32), SR, subtype="FLOAT")
    return path


def synthetic(clips):
    """Speech spliced with long digital silence, long pauses and low noise, and
    lengths at faster-whisper's padding edge cases."""
    rng = np.random.default_rng(5)
    silence = lambda s: np.zeros(int(s * SR), np.float32)
    noise = lambda s, level: (rng.standard_normal(int(s * SR)) * level).astype(np.float32)
    a, b, c = clips
    tail = np.concatenate([silence(1), a])
    return {
        "silence_40s_speech_silence": np.concatenate([silence(40), a, silence(12), b, silence(3)]),
        "speech_long_pauses": np.concatenate([a, silence(2.5), b, silence(1.2), c, silence(8)]),
        "low_noise_speech": np.concatenate([noise(20, 0.003), a + noise(len(a) / SR, 0.003),
                                            noise(15, 0.003), b, noise(5, 0.01)]),
        # 12 samples of padding: faster-whisper's tail clear zeroes 52 samples of speech.
        "odd_length_tail": tail[:len(tail) // 512 * 512 - 12],
        # A multiple of 512: faster-whisper pads a whole chunk of zeros.
        "multiple_of_512": b[:len(b) // 512 * 512],
        "pure_silence": silence(30),
        "pure_noise": noise(30, 0.01),
    }


def worst_boundary(got, ref):
    """The largest boundary difference in samples, None if the counts differ."""
    if len(got) != len(ref):
        return None
    return max((max(abs(a - c), abs(b - d)) for (a, b), (c, d) in zip(got, ref)), default=0)


class Reference:
    """A get_speech_timestamps to compare with: its intervals per option set, and stats."""

    def __init__(self, name):
        self.name, self.prob, self.boundary, self.intervals = name, 0.0, 0, 0

    def compare(self, label, got_by_set, ref_by_set):
        """got_by_set and ref_by_set: {option set name: [(start, end) samples]}."""
        bad, worst = [], 0
        for name, ref in ref_by_set.items():
            w = worst_boundary(got_by_set[name], ref)
            if w is None or w > FRAME:
                bad.append(f"{name}: ours {got_by_set[name]}, {self.name} {ref}")
            else:
                worst = max(worst, w)
            self.intervals += len(ref)
        self.boundary = max(self.boundary, worst)
        counts = [len(r) for r in ref_by_set.values()]
        check(f"{label}: intervals as {self.name} ({counts} over {len(counts)} option sets), "
              f"boundaries within {worst} samples", not bad, "; ".join(bad))


class Silero600:
    """silero-vad 6.0.0's own get_speech_timestamps and TorchScript model, read from
    its wheel (downloaded, unpacked as a zip, imported under another name: the
    installed silero-vad, whatever its version, is left alone). Needs torch."""

    # Its max-speech split differs from faster-whisper's (it splits at the
    # longest pause, and starts the next piece at that pause's end): not compared.
    SETS = [s for s in OPTION_SETS if "max_speech_duration_s" not in s[1]]

    def __init__(self, tmp):
        import torch  # ImportError: the caller reports that this did not run
        self.torch = torch
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", tmp, "silero-vad==6.0.0"], check=True)
        wheel = zipfile.ZipFile(next(pathlib.Path(tmp).glob("silero_vad-6.0.0-*.whl")))
        folder = pathlib.Path(tmp) / "silero_vad_600"
        for member in ("silero_vad/utils_vad.py", "silero_vad/data/silero_vad.jit"):
            wheel.extract(member, folder)
        spec = importlib.util.spec_from_file_location(
            "silero_vad_600_utils", folder / "silero_vad/utils_vad.py")
        self.utils = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.utils)  # imports torch and torchaudio
        torch.set_num_threads(1)  # one chunk at a time: threads only cost
        self.model = self.utils.init_jit_model(str(folder / "silero_vad/data/silero_vad.jit"))

    def timestamps(self, audio):
        """({option set: intervals}, probabilities): the network runs once, in the
        first (default) call; the other option sets replay its probabilities."""
        recorder = Recorder(self.model)
        audio = self.torch.from_numpy(audio)
        out = {}
        for name, options, _ in self.SETS:
            kwargs = dataclasses.asdict(fw_vad.VadOptions(**options))
            speech = self.utils.get_speech_timestamps(audio, recorder, sampling_rate=SR, **kwargs)
            out[name] = [(s["start"], s["end"]) for s in speech]
            recorder = Replay(recorder.probs, self.torch)
        return out, np.array(recorder.probs)


class Recorder:
    """The TorchScript model, keeping each chunk's probability."""

    def __init__(self, model):
        self.model, self.probs = model, []

    def reset_states(self):
        self.model.reset_states()
        self.probs = []

    def __call__(self, chunk, sr):
        p = self.model(chunk, sr)
        self.probs.append(p.item())
        return p


class Replay:
    """Recorded probabilities, handed out in order as the model would."""

    def __init__(self, probs, torch):
        self.probs, self.torch, self.i = probs, torch, 0

    def reset_states(self):
        self.i = 0

    def __call__(self, chunk, sr):
        self.i += 1
        return self.torch.tensor(self.probs[self.i - 1])


def compare_file(exe, fw_model, silero, fw_ref, silero_ref, name, wav, audio):
    runs = {set_name: ours(exe, wav, *flags, *(["--probabilities"] if not options else []))
            for set_name, options, flags in OPTION_SETS}
    got = {set_name: run["speech"] for set_name, run in runs.items()}
    probs = np.array(runs["default"]["probabilities"])

    # (a) faster-whisper's SileroVADModel, on the input its get_speech_timestamps builds.
    ref_probs = fw_model(np.pad(audio, (0, 512 - len(audio) % 512)))
    ok_len = len(probs) == len(ref_probs)
    diff = float(np.abs(probs - ref_probs).max()) if ok_len else float("inf")
    fw_ref.prob = max(fw_ref.prob, diff)
    check(f"{name}: probabilities as faster-whisper's ONNX ({diff:.1e})",
          ok_len and diff <= PROB_TOLERANCE, f"{len(probs)} vs {len(ref_probs)} chunks")

    # (b) faster-whisper's get_speech_timestamps, its own model behind it.
    fw = {set_name: [(s["start"], s["end"]) for s in
                     fw_vad.get_speech_timestamps(audio, fw_vad.VadOptions(**options))]
          for set_name, options, _ in OPTION_SETS}
    fw_ref.compare(name, got, fw)

    # (c) silero-vad 6.0.0's get_speech_timestamps and TorchScript model (one
    # chunk per call: ~10 s for the 3.8-minute file, which it skips for time).
    if silero is None or len(audio) > 120 * SR:
        return
    ref, silero_probs = silero.timestamps(audio)
    # The chunks both see alike: all whole ones (faster-whisper clears the tail of
    # the last chunk, and pads a whole extra chunk at a multiple of 512).
    n = len(audio) // 512
    d = float(np.abs(probs[:n] - silero_probs[:n]).max()) if n else 0.0
    silero_ref.prob = max(silero_ref.prob, d)
    check(f"{name}: probabilities as silero-vad 6.0.0's TorchScript ({d:.1e})",
          d <= PROB_TOLERANCE)
    silero_ref.compare(name, got, ref)


def transcribe(exe, wav, *extra):
    return subprocess.run([exe, "transcribe", str(wav), "--model", str(MODELS / "tiny.en"),
                           "--output-format", "verbose_json", "--quiet", *extra],
                          capture_output=True, text=True, timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    if not WEIGHTS.exists():
        subprocess.run([sys.executable, str(REPO / "scripts/fetch_models.py"), "silero-vad"],
                       check=True, stdout=subprocess.DEVNULL)
    fw_model = fw_vad.get_vad_model()  # faster-whisper's SileroVADModel, assets/silero_vad_v6.onnx
    fw_ref, silero_ref = Reference("faster-whisper"), Reference("silero-vad 6.0.0")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            silero = Silero600(tmp)
        except ImportError as e:
            silero = None
            print(f"NOT RUN: silero-vad 6.0.0's own get_speech_timestamps (needs torch: {e})")
        files = sorted(p for p in SPEECH.iterdir() if p.suffix in (".wav", ".flac", ".mp3"))
        clips = {}
        for path in files:  # 16 kHz float WAVs: both sides read the same samples
            audio = decode_audio(str(path))
            clips[path.stem] = audio
            compare_file(exe, fw_model, silero, fw_ref, silero_ref, path.stem,
                         write_wav(tmp, path.stem, audio), audio)
        made = synthetic([clips["en_librispeech_1988-24833-0000"],
                          clips["en_pocketsphinx_goforward"], clips["en_ljspeech_LJ002-0020"]])
        for name, audio in made.items():
            compare_file(exe, fw_model, silero, fw_ref, silero_ref, name,
                         write_wav(tmp, name, audio), audio)
        print(f"faster-whisper: max |probability diff| {fw_ref.prob:.2e}; {fw_ref.intervals} "
              f"intervals, max boundary diff {fw_ref.boundary} samples")
        if silero is not None:
            print(f"silero-vad 6.0.0: max |probability diff| {silero_ref.prob:.2e}; "
                  f"{silero_ref.intervals} intervals, max boundary diff {silero_ref.boundary} "
                  f"samples")
        else:
            print("NOT RUN: silero-vad 6.0.0 comparison (torch is not installed); not a pass")
        print(f"info comparisons took {time.perf_counter() - start:.0f} s")
        speed(exe, tmp)
        cli(exe, tmp, made)
    return finish("vad_accuracy")


def speed(exe, tmp):
    long = SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"
    wav = write_wav(tmp, "long", decode_audio(str(long)))
    minutes = sf.info(str(wav)).duration / 60
    best = min(timed([dev_tool(exe), "vad", str(wav), "--threads", "1"]) for _ in range(3))
    print(f"info speed: {best / minutes * 1000:.0f} ms per minute of audio, one thread "
          f"({minutes:.1f} min file, decoding and loading included)")


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def cli(exe, tmp, made):
    wav = write_wav(tmp, "after_silence", made["silence_40s_speech_silence"])
    r = transcribe(exe, wav, "--vad")
    check("transcribe --vad runs", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        out = json.loads(r.stdout)
        starts = [s["start"] for s in out["segments"]]
        check("transcribe --vad: speech after 40 s of silence starts near 40 s",
              bool(starts) and 39.0 <= starts[0] <= 41.0, starts)
        seconds = len(made["silence_40s_speech_silence"]) / SR
        check("transcribe --vad: duration is the original's", abs(out["duration"] - seconds) < 0.01,
              f"{out['duration']} vs {seconds}")
        check("transcribe --vad: times within the file",
              all(0 <= s["start"] <= s["end"] <= out["duration"] for s in out["segments"]))
    for name in ("pure_silence", "pure_noise"):
        r = transcribe(exe, write_wav(tmp, name, made[name]), "--vad")
        text = json.loads(r.stdout)["text"] if r.returncode == 0 else None
        check(f"transcribe --vad on {name}: no text", text == "", f"rc {r.returncode}, {text!r}")
    for args, what, needle in [
            (["--vad", "--vad-threshold", "1.5"], "bad --vad-threshold", "--vad-threshold"),
            (["--vad", "--vad-model", "/nonexistent.safetensors"], "missing --vad-model",
             "/nonexistent.safetensors"),
            (["--vad", "--vad-speech-pad-ms", "-3"], "negative --vad-speech-pad-ms",
             "--vad-speech-pad-ms"),
            (["--vad", "--vad-min-speech-ms", "-1"], "negative --vad-min-speech-ms",
             "--vad-min-speech-ms"),
            (["--vad-threshold", "0.3"], "--vad-threshold without --vad", "--vad")]:
        r = transcribe(exe, wav, *args)
        lines = r.stderr.strip().splitlines()
        check(f"{what}: one error line naming {needle}, exit 1",
              r.returncode == 1 and len(lines) == 1 and "error" in lines[0] and needle in lines[0],
              r.stderr)


if __name__ == "__main__":
    sys.exit(main())
