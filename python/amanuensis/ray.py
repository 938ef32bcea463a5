"""Transcribing an archive on a Ray cluster, with Ray Data.

    from amanuensis.ray import transcribe_archive
    summary = transcribe_archive(["a.flac", "s3://bucket/b.m4a", ...], "out/",
                                 model="base", cpu_threads=1)

or from a shell, on any node of the cluster (RAY_ADDRESS, or --address):

    python3 -m amanuensis.ray manifest.txt out/ --model base --cpu-threads 1

Each file becomes one Ray Data row, handed to a pool of actors that each
hold one loaded model (one actor per `cpu_threads` CPUs of the cluster).
An actor writes the file's transcript as `<output>/<name>.json`, atomically
(written beside it, then renamed), and the driver writes `summary.tsv`. A
rerun skips the files whose JSON exists, so a job that was stopped resumes;
an actor or node that dies has its files retried by Ray, and the atomic
write keeps each file's JSON whole and single. Paths and outputs may be
anything pyarrow's file systems open (local, s3://, gs://, hdfs://); on a
cluster the output must be a folder every node sees (shared disk or object
store). Transcripts are the same bytes whichever node makes them."""

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import os
import sys
import time
from typing import Dict, Iterable, List, Optional

SUMMARY = "summary.tsv"
_SUMMARY_COLUMNS = ["file", "output", "status", "language", "duration", "seconds", "started",
                    "error"]


def output_name(path: str) -> str:
    """The JSON's name for an input: its base name and a hash of the whole
    path, so that a.wav in two folders do not collide."""
    base = os.path.basename(path.rstrip("/")) or "audio"
    return f"{base}.{hashlib.sha1(path.encode()).hexdigest()[:10]}.json"


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _filesystem(uri: str):
    from pyarrow import fs
    return fs.FileSystem.from_uri(uri)  # local paths too


def _write_atomically(directory: str, name: str, text: str) -> None:
    """Written under a temporary name, then renamed: a reader (or a rerun)
    sees the whole file or none."""
    filesystem, base = _filesystem(directory)
    final = f"{base.rstrip('/')}/{name}"
    temporary = f"{final}.{os.getpid()}.{time.monotonic_ns()}.partial"
    with filesystem.open_output_stream(temporary) as f:
        f.write(text.encode())
    filesystem.move(temporary, final)


def _existing(directory: str) -> set:
    from pyarrow import fs
    filesystem, base = _filesystem(directory)
    filesystem.create_dir(base, recursive=True)
    infos = filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True))
    return {os.path.basename(i.path) for i in infos if i.type == fs.FileType.File}


class _Transcriber:
    """A Ray Data actor: one loaded model, one file per call."""

    def __init__(self, model: str, compute_type: str, cpu_threads: int, output: str,
                 options: Dict):
        from . import WhisperModel
        self._model = WhisperModel(model, compute_type=compute_type, cpu_threads=cpu_threads)
        self._output = output
        self._options = options

    def __call__(self, row: Dict) -> Dict:
        from . import Error
        path, name = row["file"], row["output"]
        start = time.perf_counter()
        result = dict(row, status="done", language="", duration=0.0, seconds=0.0,
                      started=round(time.time(), 3), error="")
        try:
            filesystem, where = _filesystem(path)
            if filesystem.type_name == "local":
                audio = where  # the engine reads it
            else:
                with filesystem.open_input_stream(where) as f:
                    audio = io.BytesIO(f.read())
            segments, info = self._model.transcribe(audio, **self._options)
            segments = list(segments)
            transcript = {
                "file": path,
                "language": info.language,
                "language_probability": info.language_probability,
                "duration": info.duration,
                "text": "".join(s.text for s in segments),
                "segments": [dataclasses.asdict(s) for s in segments],
            }
            _write_atomically(self._output, name, json.dumps(transcript, ensure_ascii=False))
            result.update(language=info.language, duration=info.duration)
        except (Error, OSError, ValueError) as e:  # this file's fault: reported, not retried
            result.update(status="failed", error=str(e).splitlines()[0] if str(e) else repr(e))
        result["seconds"] = round(time.perf_counter() - start, 3)
        return result


def transcribe_archive(files: Iterable[str], output: str, model: str = "base",
                       compute_type: str = "int8", cpu_threads: int = 1,
                       actors: Optional[int] = None, address: Optional[str] = None,
                       **transcribe_options) -> List[Dict]:
    """Transcribes every file not yet done into `output`; returns the summary
    rows (one per file: done now, done before ("skipped") or failed), which
    are also written to `output`/summary.tsv. transcribe_options are
    WhisperModel.transcribe's keyword arguments."""
    import ray

    # Local paths made absolute here, where they were meant: an actor's
    # working folder is not the caller's.
    files = list(dict.fromkeys(_absolute(f) for f in files))  # each once, in the order given
    output = _absolute(output)
    done_before = _existing(output)
    rows, skipped = [], []
    for f in files:
        row = {"file": f, "output": output_name(f)}
        (skipped if row["output"] in done_before else rows).append(row)
    # The largest local files first, so that no long file starts last and
    # leaves the other actors idle while it runs.
    rows.sort(key=lambda r: -os.path.getsize(r["file"]) if os.path.isfile(r["file"]) else 0)
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1) // cpu_threads))
    results = []
    if rows:
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))  # a file a task
        results = dataset.map(
            _Transcriber,
            fn_constructor_kwargs=dict(model=model, compute_type=compute_type,
                                       cpu_threads=cpu_threads, output=output,
                                       options=transcribe_options),
            # Two files in flight per actor (the next one queued while one runs):
            # few files wait behind a long one while another actor idles.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2),
            num_cpus=cpu_threads).take_all()
    summary = results + [dict(r, status="skipped", language="", duration=0.0, seconds=0.0,
                              started=0.0, error="") for r in skipped]
    order = {f: i for i, f in enumerate(files)}
    summary.sort(key=lambda r: order[r["file"]])
    table = io.StringIO()
    writer = csv.DictWriter(table, _SUMMARY_COLUMNS, delimiter="\t", lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(summary)
    _write_atomically(output, SUMMARY, table.getvalue())
    _remove_partial_writes(output)
    return summary


def _remove_partial_writes(directory: str) -> None:
    """What a killed actor left half written (its file was retried and
    written whole since). One job at a time per output folder."""
    from pyarrow import fs
    filesystem, base = _filesystem(directory)
    for info in filesystem.get_file_info(fs.FileSelector(base)):
        if info.type == fs.FileType.File and info.path.endswith(".partial"):
            filesystem.delete_file(info.path)


def _main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m amanuensis.ray",
        description="Transcribe the files of a manifest (one path or URI a line) on a Ray "
                    "cluster: one JSON per file in OUTPUT, and OUTPUT/summary.tsv.")
    ap.add_argument("manifest", help="a text file: one path or URI a line ('-': stdin)")
    ap.add_argument("output", help="a folder every node sees (or an object-store URI)")
    ap.add_argument("--model", default="base")
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--cpu-threads", type=int, default=1, help="threads (and CPUs) per actor")
    ap.add_argument("--actors", type=int, help="default: the cluster's CPUs / --cpu-threads")
    ap.add_argument("--address", help="the Ray cluster (default: RAY_ADDRESS, or a local one)")
    ap.add_argument("--language")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--word-timestamps", action="store_true")
    ap.add_argument("--vad-filter", action="store_true")
    a = ap.parse_args(argv)
    text = sys.stdin.read() if a.manifest == "-" else open(a.manifest, encoding="utf-8").read()
    files = [line.strip() for line in text.splitlines() if line.strip()]
    start = time.perf_counter()
    summary = transcribe_archive(files, a.output, model=a.model, compute_type=a.compute_type,
                                 cpu_threads=a.cpu_threads, actors=a.actors, address=a.address,
                                 language=a.language, beam_size=a.beam_size,
                                 word_timestamps=a.word_timestamps, vad_filter=a.vad_filter)
    counts = {s: sum(r["status"] == s for r in summary) for s in ("done", "skipped", "failed")}
    print(f"amanuensis.ray: {counts['done']} done, {counts['skipped']} skipped, "
          f"{counts['failed']} failed in {time.perf_counter() - start:.1f} s; "
          f"{os.path.join(a.output, SUMMARY)}", file=sys.stderr)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    # Through the package's module, so that Ray's workers find its classes by name.
    from amanuensis.ray import _main as main
    sys.exit(main())
