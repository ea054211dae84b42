"""Peak memory of a tuned `gaia-audio morph` between long recordings, up to the 20 s input limit.

Issue 23 §6 found a 60 s × 60 s tuned morph peaking past 7 GB before it died; inputs are now
refused past ``MAX_MORPH_SECONDS`` (20 s) from their headers. This measures what the longest
accepted morph costs: two songs of ``--seconds`` each, cut from the zebra finch songs in the
vocalpy 0.10.3 wheel (the same recordings the tests fetch; songs are repeated end to end to reach
the length), morphed by the shipped birdsong model with the default settings (tuned, equal
spacing, 16 steps). Each row is one `gaia-audio morph` process; its peak resident memory is the
kernel's (``getrusage(RUSAGE_CHILDREN).ru_maxrss``, read after the child alone has run).

The peer in the same run is a process that only imports torch (what any process running the
model pays) and a morph of two single syllables (the shipped model's example pair).

    python benchmarks/morph_memory.py                    # 2 s, 10 s and 19.9 s inputs
    python benchmarks/morph_memory.py --seconds 19.9 --steps 16
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def peak_of(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one child process, measured in a fresh Python."""
    probe = ("import json, resource, subprocess, sys, time\n"
             "t = time.perf_counter()\n"
             "rc = subprocess.run(json.loads(sys.argv[1]), capture_output=True).returncode\n"
             "t = time.perf_counter() - t\n"
             "print(json.dumps([rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, t]))")
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(cmd)], capture_output=True, text=True, check=True)
    rc, mib, seconds = json.loads(out.stdout)
    if rc != 0:
        raise SystemExit(f"failed ({rc}): {' '.join(cmd)}")
    return mib, seconds


def long_song(songs: list[Path], seconds: float, offset: int, sr: int = 44100) -> np.ndarray:
    """``seconds`` of song: the vocalpy songs, from song ``offset`` on, end to end."""
    import soundfile as sf

    pieces, total = [], 0
    k = offset
    while total < seconds * sr:
        y, file_sr = sf.read(songs[k % len(songs)], dtype="float32")
        assert file_sr == sr
        pieces.append(y)
        total += len(y)
        k += 1
    return np.concatenate(pieces)[: int(seconds * sr)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 10.0, 19.9])
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args()

    import soundfile as sf
    from conftest import fetch_vocalpy_songs

    from gaia_audio.pretrained import model_dir

    cache = Path(tempfile.gettempdir()) / "gaia_audio_vocalpy"
    songs = fetch_vocalpy_songs(cache)
    cli = [sys.executable, "-m", "gaia_audio"]
    rows = [("import torch", *peak_of([sys.executable, "-c", "import torch"]))]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        examples = sorted((model_dir("birdsong") / "examples").glob("*.wav"))[:2]
        rows.append(("two syllables (example pair)",
                     *peak_of([*cli, "morph", *map(str, examples), "--steps", str(args.steps), "-o", str(tmp / "ex")])))
        for seconds in args.seconds:
            a, b = tmp / f"a_{seconds:g}.wav", tmp / f"b_{seconds:g}.wav"
            sf.write(a, long_song(songs, seconds, 0), 44100)
            sf.write(b, long_song(songs, seconds, 2), 44100)
            out = tmp / f"out_{seconds:g}"
            rows.append((f"{seconds:g} s × {seconds:g} s, tuned",
                         *peak_of([*cli, "morph", str(a), str(b), "--steps", str(args.steps), "-o", str(out)])))
    day = time.strftime("%Y-%m-%d")
    print(f"\n`gaia-audio morph` peak memory, shipped birdsong model, {args.steps} steps ({day})\n")
    print("| process | peak RSS (MiB) | wall (s) |")
    print("|---|---|---|")
    for name, mib, seconds in rows:
        print(f"| {name} | {mib:.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
