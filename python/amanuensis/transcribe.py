"""faster-whisper's WhisperModel and BatchedInferencePipeline over amanuensis's
engine: the same signatures, defaults and result types, so that a program
written for faster-whisper 1.2 runs after its import line changes.

A transcription runs on a worker thread (the engine with the GIL released);
the caller's segment iterator asks it for work. As in faster-whisper, the
language is known when transcribe() returns, and a window is decoded only
while the caller waits for a segment: stop iterating and the work stops.
"""

import collections
import contextlib
import logging
import sys
import threading
import weakref
from dataclasses import asdict, dataclass
from typing import BinaryIO, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import _core
from .audio import SAMPLING_RATE, samples_of
from .models import model_path, vad_weights
from .vad import VadOptions, engine_vad_options, vad_options_of

_TEMPERATURES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
# faster-whisper's batched pipeline cuts speech at silences this long (its
# sequential default, VadOptions', is 2000 ms).
_BATCHED_MIN_SILENCE_MS = 160
_PREPEND = "\"'\u201c\u00bf([{-"
_APPEND = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001"


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float

    def _asdict(self):  # faster-whisper's NamedTuple past, which programs still call
        return asdict(self)


@dataclass
class Segment:
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: List[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: Optional[List[Word]]
    temperature: Optional[float]

    def _asdict(self):
        return asdict(self)


@dataclass
class TranscriptionOptions:
    beam_size: int
    best_of: int
    patience: float
    length_penalty: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    log_prob_threshold: Optional[float]
    no_speech_threshold: Optional[float]
    compression_ratio_threshold: Optional[float]
    condition_on_previous_text: bool
    prompt_reset_on_temperature: float
    temperatures: List[float]
    initial_prompt: Optional[Union[str, Iterable[int]]]
    prefix: Optional[str]
    suppress_blank: bool
    suppress_tokens: Optional[List[int]]
    without_timestamps: bool
    max_initial_timestamp: float
    word_timestamps: bool
    prepend_punctuations: str
    append_punctuations: str
    multilingual: bool
    max_new_tokens: Optional[int]
    clip_timestamps: Union[str, List[float]]
    hallucination_silence_threshold: Optional[float]
    hotwords: Optional[str]


@dataclass
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float
    duration_after_vad: float
    all_language_probs: Optional[List[Tuple[str, float]]]
    transcription_options: TranscriptionOptions
    vad_options: VadOptions


# compute_type -> the engine's precision. CTranslate2 on a CPU runs float16 and
# bfloat16 models in float32, so those names give float32 here too;
# "default" and "auto" give amanuensis's fast path, int8.
_PRECISIONS = {
    "default": "int8", "auto": "int8", "int8": "int8", "int8_float32": "int8",
    "int8_float16": "int8", "int8_bfloat16": "int8",
    "float32": "fp32", "float16": "fp32", "bfloat16": "fp32",
}


class FeatureExtractor:
    """The log-Mel front end's constants, which programs read."""

    def __init__(self, feature_size: int):
        self.sampling_rate = SAMPLING_RATE
        self.n_fft = 400
        self.hop_length = 160
        self.chunk_length = 30
        self.n_samples = self.chunk_length * self.sampling_rate
        self.nb_max_frames = self.n_samples // self.hop_length
        self.time_per_frame = self.hop_length / self.sampling_rate
        self.feature_size = feature_size


class EngineModel:
    """What `WhisperModel.model` (a CTranslate2 Whisper in faster-whisper) tells."""

    def __init__(self, core: "_core.Model", compute_type: str):
        self.is_multilingual = core.multilingual
        self.n_mels = core.n_mels
        self.device = "cpu"
        self.compute_type = compute_type
        self.format = core.format
        self.backend = core.backend  # the instruction set of the int8 kernels


class WhisperModel:
    def __init__(
        self,
        model_size_or_path: str,
        device: str = "auto",
        device_index: Union[int, List[int]] = 0,
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
        download_root: Optional[str] = None,
        local_files_only: bool = False,
        files: dict = None,
        revision: Optional[str] = None,
        use_auth_token: Optional[Union[str, bool]] = None,
        **model_kwargs,
    ):
        """Loads a Whisper model: a size or hub name found in amanuensis's cache
        (or download_root), or a path to a CTranslate2 / faster-whisper folder, a
        Hugging Face folder or a whisper.cpp ggml file. local_files_only is
        always true in effect: nothing is downloaded."""
        if device not in ("auto", "cpu"):
            raise ValueError(f"device={device!r}: amanuensis runs on the CPU only")
        if device_index not in (0, [0]):
            raise ValueError(f"device_index={device_index!r}: the CPU is device 0")
        if compute_type not in _PRECISIONS:
            raise ValueError(f"compute_type={compute_type!r}: amanuensis runs "
                             f"{', '.join(sorted(_PRECISIONS))}")
        for name, value in (("files", files), ("revision", revision),
                            ("use_auth_token", use_auth_token)):
            if value is not None:
                raise NotImplementedError(f"{name}=: amanuensis loads models from files only")
        if model_kwargs:
            raise NotImplementedError(f"WhisperModel: unsupported arguments {sorted(model_kwargs)}")
        if not isinstance(cpu_threads, int) or cpu_threads < 0:
            raise ValueError(f"cpu_threads={cpu_threads!r}: expected 0 (every core) or more")
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers={num_workers!r}: expected 1 or more")

        self._core = _core.Model(model_path(model_size_or_path, download_root),
                                 _PRECISIONS[compute_type], "auto", vad_weights())
        self._threads = cpu_threads
        self._workers = threading.BoundedSemaphore(num_workers)  # transcriptions at once
        self._idle_sessions: List[_core.Session] = []
        self._lock = threading.Lock()
        self.logger = logging.getLogger("amanuensis")
        self.model = EngineModel(self._core, compute_type)
        self.feature_extractor = FeatureExtractor(self._core.n_mels)
        self.input_stride = 2
        self.num_samples_per_token = self.feature_extractor.hop_length * self.input_stride
        self.frames_per_second = self.feature_extractor.sampling_rate // self.feature_extractor.hop_length
        self.tokens_per_second = self.feature_extractor.sampling_rate // self.num_samples_per_token
        self.time_precision = 0.02
        self.max_length = 448

    @property
    def supported_languages(self) -> List[str]:
        """The languages supported by the model."""
        return self._core.languages if self._core.multilingual else ["en"]

    @contextlib.contextmanager
    def _session(self):
        """A session (threads, caches) of this model, made on first need and
        kept for the next call. Holding one is not working: `_workers` (taken
        around the engine's work, not while a run waits for its caller) keeps
        num_workers at work at once."""
        with self._lock:
            session = self._idle_sessions.pop() if self._idle_sessions else None
        if session is None:
            session = _core.Session(self._core, self._threads)
        try:
            yield session
        finally:
            with self._lock:
                self._idle_sessions.append(session)

    def transcribe(
        self,
        audio: Union[str, BinaryIO, np.ndarray],
        language: Optional[str] = None,
        task: str = "transcribe",
        log_progress: bool = False,
        beam_size: int = 5,
        best_of: int = 5,
        patience: float = 1,
        length_penalty: float = 1,
        repetition_penalty: float = 1,
        no_repeat_ngram_size: int = 0,
        temperature: Union[float, List[float], Tuple[float, ...]] = _TEMPERATURES,
        compression_ratio_threshold: Optional[float] = 2.4,
        log_prob_threshold: Optional[float] = -1.0,
        no_speech_threshold: Optional[float] = 0.6,
        condition_on_previous_text: bool = True,
        prompt_reset_on_temperature: float = 0.5,
        initial_prompt: Optional[Union[str, Iterable[int]]] = None,
        prefix: Optional[str] = None,
        suppress_blank: bool = True,
        suppress_tokens: Optional[List[int]] = [-1],
        without_timestamps: bool = False,
        max_initial_timestamp: float = 1.0,
        word_timestamps: bool = False,
        prepend_punctuations: str = _PREPEND,
        append_punctuations: str = _APPEND,
        multilingual: bool = False,
        vad_filter: bool = False,
        vad_parameters: Optional[Union[dict, VadOptions]] = None,
        max_new_tokens: Optional[int] = None,
        chunk_length: Optional[int] = None,
        clip_timestamps: Union[str, List[float]] = "0",
        hallucination_silence_threshold: Optional[float] = None,
        hotwords: Optional[str] = None,
        language_detection_threshold: Optional[float] = 0.5,
        language_detection_segments: int = 1,
    ) -> Tuple[Iterable[Segment], TranscriptionInfo]:
        """Transcribes audio (a path, a binary file object or 16 kHz mono float
        samples) as faster-whisper does: returns (segments, info), segments a
        lazy generator. Arguments amanuensis cannot honour raise
        NotImplementedError naming them."""
        args = dict(locals())
        del args["self"], args["audio"]
        if clip_timestamps not in ("0", "", [0], [0.0], "0.0"):
            raise NotImplementedError(f"clip_timestamps={clip_timestamps!r}: amanuensis "
                                      "transcribes the whole recording")
        vad = vad_options_of(vad_parameters)
        return _start(self, audio, args, vad, batch_size=1)

    def detect_language(
        self,
        audio: Optional[np.ndarray] = None,
        features: Optional[np.ndarray] = None,
        vad_filter: bool = False,
        vad_parameters: Union[dict, VadOptions] = None,
        language_detection_segments: int = 1,
        language_detection_threshold: float = 0.5,
    ) -> Tuple[str, float, List[Tuple[str, float]]]:
        """(language, probability, every language's probability, likeliest
        first), from the first 30 s window (of the speech, with vad_filter)."""
        if features is not None:
            raise NotImplementedError("detect_language: features=: give the audio")
        if audio is None:
            raise ValueError("detect_language: no audio")
        if language_detection_segments != 1:
            raise NotImplementedError("language_detection_segments: amanuensis detects the "
                                      "language on the first window only")
        if not self._core.multilingual:
            return "en", 1.0, [("en", 1.0)]
        options = _core.TranscribeOptions()
        options.vad_filter = vad_filter
        options.vad = engine_vad_options(vad_options_of(vad_parameters))
        _check_vad(self, options)
        samples = samples_of(audio)
        self._core.check(options)
        with self._session() as session, self._workers:  # detection, then the abort
            t = session.transcribe(samples, options, should_abort=lambda: True)
        probabilities = list(t.info.language_probabilities) or [(t.info.language, 1.0)]
        return t.info.language, t.info.language_probability, probabilities


class BatchedInferencePipeline:
    """faster-whisper's batched pipeline: speech chunks of up to 30 s (Silero
    VAD's, merged) decoded batch_size at a time as independent windows, by
    the engine's batched mode. batch_size=1 runs the sequential mode."""

    def __init__(self, model: WhisperModel):
        self.model: WhisperModel = model

    def transcribe(
        self,
        audio: Union[str, BinaryIO, np.ndarray],
        language: Optional[str] = None,
        task: str = "transcribe",
        log_progress: bool = False,
        beam_size: int = 5,
        best_of: int = 5,
        patience: float = 1,
        length_penalty: float = 1,
        repetition_penalty: float = 1,
        no_repeat_ngram_size: int = 0,
        temperature: Union[float, List[float], Tuple[float, ...]] = _TEMPERATURES,
        compression_ratio_threshold: Optional[float] = 2.4,
        log_prob_threshold: Optional[float] = -1.0,
        no_speech_threshold: Optional[float] = 0.6,
        condition_on_previous_text: bool = True,
        prompt_reset_on_temperature: float = 0.5,
        initial_prompt: Optional[Union[str, Iterable[int]]] = None,
        prefix: Optional[str] = None,
        suppress_blank: bool = True,
        suppress_tokens: Optional[List[int]] = [-1],
        without_timestamps: bool = True,
        max_initial_timestamp: float = 1.0,
        word_timestamps: bool = False,
        prepend_punctuations: str = _PREPEND,
        append_punctuations: str = _APPEND,
        multilingual: bool = False,
        vad_filter: bool = True,
        vad_parameters: Optional[Union[dict, VadOptions]] = None,
        max_new_tokens: Optional[int] = None,
        chunk_length: Optional[int] = None,
        clip_timestamps: Optional[List[dict]] = None,
        hallucination_silence_threshold: Optional[float] = None,
        batch_size: int = 8,
        hotwords: Optional[str] = None,
        language_detection_threshold: Optional[float] = 0.5,
        language_detection_segments: int = 1,
    ) -> Tuple[Iterable[Segment], TranscriptionInfo]:
        """As WhisperModel.transcribe, batch_size chunks at a time. As in
        faster-whisper, VAD's speech is cut at silences of 160 ms unless
        vad_parameters say otherwise, and a chunk is never conditioned on
        another's text (condition_on_previous_text does not apply)."""
        args = dict(locals())
        del args["self"], args["audio"], args["batch_size"]
        if clip_timestamps:
            raise NotImplementedError("clip_timestamps: amanuensis finds the chunks itself")
        # faster-whisper's batched defaults: VAD chunks of at most 30 s, cut at 160 ms silences.
        vad = vad_options_of(vad_parameters if vad_parameters is not None
                             else {"min_silence_duration_ms": _BATCHED_MIN_SILENCE_MS})
        vad.max_speech_duration_s = 30.0
        return _start(self.model, audio, args, vad, batch_size=batch_size)


def _engine_options(a: dict, vad: VadOptions, batch_size: int) -> "_core.TranscribeOptions":
    """faster-whisper's arguments -> the engine's options (checked by the
    engine's one check, Model.check, after this)."""
    if a["multilingual"]:
        raise NotImplementedError("multilingual=True: amanuensis keeps one language per recording")
    if a["chunk_length"] not in (None, 30):
        raise NotImplementedError(f"chunk_length={a['chunk_length']!r}: Whisper's windows are 30 s")
    if a["language_detection_segments"] != 1:
        raise NotImplementedError("language_detection_segments: amanuensis detects the language "
                                  "on the first window only")
    prompt = a["initial_prompt"]
    if prompt is not None and not isinstance(prompt, str):
        raise NotImplementedError("initial_prompt: give text, not token ids")
    o = _core.TranscribeOptions()
    o.language = a["language"] or ""
    o.task = a["task"]
    o.beam_size = a["beam_size"]
    o.best_of = a["best_of"]
    o.patience = a["patience"]
    o.length_penalty = a["length_penalty"]
    o.repetition_penalty = a["repetition_penalty"]
    o.no_repeat_ngram_size = a["no_repeat_ngram_size"]
    o.temperatures = [float(t) for t in _temperatures(a["temperature"])]
    nan = float("nan")
    o.compression_ratio_threshold = (0.0 if a["compression_ratio_threshold"] is None
                                     else a["compression_ratio_threshold"])
    o.log_prob_threshold = nan if a["log_prob_threshold"] is None else a["log_prob_threshold"]
    o.no_speech_threshold = nan if a["no_speech_threshold"] is None else a["no_speech_threshold"]
    o.condition_on_previous_text = a["condition_on_previous_text"]
    o.prompt_reset_on_temperature = a["prompt_reset_on_temperature"]
    o.initial_prompt = prompt or ""
    o.prefix = a["prefix"] or ""
    o.hotwords = a["hotwords"] or ""
    o.suppress_blank = a["suppress_blank"]
    o.suppress_tokens = list(a["suppress_tokens"] or [])
    o.without_timestamps = a["without_timestamps"]
    o.max_initial_timestamp = a["max_initial_timestamp"]
    o.word_timestamps = a["word_timestamps"]
    o.prepend_punctuations = a["prepend_punctuations"]
    o.append_punctuations = a["append_punctuations"]
    o.vad_filter = a["vad_filter"]
    o.vad = engine_vad_options(vad)
    o.max_new_tokens = a["max_new_tokens"] or 0
    threshold = a["hallucination_silence_threshold"]
    o.hallucination_silence_threshold = nan if threshold is None else threshold
    o.batch_size = batch_size
    return o


def _temperatures(temperature) -> list:
    """faster-whisper's rule: a list or tuple is the ladder, anything else one
    temperature."""
    return list(temperature) if isinstance(temperature, (list, tuple)) else [temperature]


def _check_vad(model: WhisperModel, o: "_core.TranscribeOptions") -> None:
    if o.vad_filter and not vad_weights():
        raise _core.InvalidInputError(
            "vad_filter needs Silero VAD's weights in amanuensis's cache "
            "(scripts/fetch_models.py silero-vad fetches them)")


def _recorded_options(a: dict, o: "_core.TranscribeOptions") -> TranscriptionOptions:
    """The options as faster-whisper's info.transcription_options shows them."""
    return TranscriptionOptions(
        beam_size=a["beam_size"], best_of=a["best_of"], patience=a["patience"],
        length_penalty=a["length_penalty"], repetition_penalty=a["repetition_penalty"],
        no_repeat_ngram_size=a["no_repeat_ngram_size"],
        log_prob_threshold=a["log_prob_threshold"], no_speech_threshold=a["no_speech_threshold"],
        compression_ratio_threshold=a["compression_ratio_threshold"],
        condition_on_previous_text=a["condition_on_previous_text"],
        prompt_reset_on_temperature=a["prompt_reset_on_temperature"],
        temperatures=_temperatures(a["temperature"]), initial_prompt=a["initial_prompt"],
        prefix=a["prefix"], suppress_blank=a["suppress_blank"],
        suppress_tokens=a["suppress_tokens"], without_timestamps=a["without_timestamps"],
        max_initial_timestamp=a["max_initial_timestamp"], word_timestamps=a["word_timestamps"],
        prepend_punctuations=a["prepend_punctuations"],
        append_punctuations=a["append_punctuations"], multilingual=a["multilingual"],
        max_new_tokens=a["max_new_tokens"], clip_timestamps=a["clip_timestamps"],
        hallucination_silence_threshold=a["hallucination_silence_threshold"],
        hotwords=a["hotwords"])


def _start(model: WhisperModel, audio, a: dict, vad: VadOptions, batch_size: int):
    o = _engine_options(a, vad, batch_size)
    _check_vad(model, o)
    model._core.check(o)  # every option error before any work
    samples = samples_of(audio)
    run = _Run(model, samples, o, a["word_timestamps"], a["log_progress"],
               _temperatures(a["temperature"]))
    try:
        language, probability, ranked, duration, after_vad = run.wait_for_info()
    except BaseException:  # an error, or Ctrl-C while waiting: no caller will iterate
        run.close()
        raise
    info = TranscriptionInfo(
        language=language, language_probability=probability,
        duration=duration, duration_after_vad=after_vad,
        all_language_probs=ranked or None,
        transcription_options=_recorded_options(a, o),
        # As faster-whisper: the options VAD ran with, else what was given.
        vad_options=vad if a["vad_filter"] else a["vad_parameters"])
    segments = run.segments()
    weakref.finalize(segments, run.close)  # a generator dropped unstarted stops the work too
    return segments, info


def _segment(s: "_core.Segment", with_words: bool, temperatures: dict) -> Segment:
    words = [Word(w.start, w.end, w.word, w.probability) for w in s.words] if with_words else None
    return Segment(id=s.id, seek=s.seek, start=s.start, end=s.end, text=s.text,
                   tokens=list(s.tokens), avg_logprob=s.avg_logprob,
                   compression_ratio=s.compression_ratio, no_speech_prob=s.no_speech_prob,
                   words=words, temperature=temperatures.get(s.temperature, s.temperature))


_live_runs = set()  # the transcriptions running now, stopped when Python exits


class _Run:
    """One transcription on a worker thread. The engine's callbacks run there:
    on_info hands over the language, on_segment each segment, and
    should_abort (before each window) waits until the caller wants another
    segment or has stopped."""

    def __init__(self, model: WhisperModel, samples: np.ndarray, options, with_words: bool,
                 log_progress: bool, temperatures: list):
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()
        self._info = None
        self._done = self._wanted = self._closed = False
        self._error: Optional[BaseException] = None
        self._with_words = with_words
        # The engine's float32 temperatures -> the caller's values (0.2, not 0.2000000029).
        self._temperatures = {float(np.float32(t)): t for t in temperatures}
        self._workers = model._workers  # taken while the engine works
        self._progress = _Progress() if log_progress else None
        self._thread = threading.Thread(target=self._work, args=(model, samples, options),
                                        name="amanuensis-transcribe")
        _live_runs.add(self)
        self._thread.start()

    def _work(self, model, samples, options):
        try:
            with model._session() as session:
                self._workers.acquire()
                try:
                    result = session.transcribe(
                        samples, options, self._on_segment, self._on_info,
                        self._progress.update if self._progress else None, self._should_abort)
                finally:
                    self._workers.release()
            with self._cond:
                if self._info is None:  # too short for a window: no on_info
                    self._info = _info_tuple(result.info)
            if self._progress:
                self._progress.close()
        except BaseException as e:  # handed to the caller's thread
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()
            _live_runs.discard(self)

    def _on_info(self, info):
        with self._cond:
            self._info = _info_tuple(info)
            self._cond.notify_all()

    def _on_segment(self, s):
        segment = _segment(s, self._with_words, self._temperatures)  # copied: `s` lives for this call
        with self._cond:
            self._queue.append(segment)
            self._wanted = False
            self._cond.notify_all()

    def _should_abort(self) -> bool:
        with self._cond:
            if self._closed:
                return True
            if self._info is None or self._wanted:
                return False
        # Waiting for the caller is not work: another run of this model (the
        # caller's next transcribe(), say) may work meanwhile.
        self._workers.release()
        try:
            with self._cond:
                while not self._wanted and not self._closed:
                    self._cond.wait()
                closed = self._closed
        finally:
            self._workers.acquire()
        return closed

    def wait_for_info(self):
        with self._cond:
            while self._info is None and not self._done:
                self._cond.wait()
        if self._error is not None:
            raise self._error
        return self._info

    def segments(self) -> Iterator[Segment]:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._done:
                        self._wanted = True
                        self._cond.notify_all()
                        self._cond.wait()
                    if not self._queue:
                        break
                    segment = self._queue.popleft()
                yield segment
            if self._error is not None:
                raise self._error
        finally:
            self.close()

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _info_tuple(info):
    return (info.language, info.language_probability, list(info.language_probabilities),
            info.duration, info.duration_after_vad)


class _Progress:
    """log_progress=True: a bar of audio seconds done (tqdm's, as faster-whisper's)."""

    def __init__(self):
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=None, unit="seconds", file=sys.stderr)
        except ImportError:
            self._bar = None

    def update(self, done: float, total: float):
        if self._bar is None:
            print(f"\r{done:.1f} / {total:.1f} s", end="", file=sys.stderr, flush=True)
            return
        self._bar.total = round(total, 2)
        self._bar.n = round(done, 2)
        self._bar.refresh()

    def close(self):
        if self._bar is not None:
            self._bar.close()
        else:
            print(file=sys.stderr)


def _stop_all():
    for run in list(_live_runs):
        run.close()


# Before Python waits for its threads at exit, stop the transcriptions: a
# worker waiting for a caller that is gone would hold the exit forever.
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_stop_all)
else:  # pragma: no cover
    import atexit
    atexit.register(_stop_all)
