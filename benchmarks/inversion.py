"""Phase reconstruction: quality and speed of our methods against librosa's Griffin-Lim.

For each preset's STFT (Hann window, centred frames, its n_fft / hop_length / win_length), every
method gets the exact magnitude |STFT(y)| of real recordings (or a synthetic signal) and must find
a waveform whose STFT magnitude matches it (``--band``: only the bins in the preset's band). Compared, in the same run:

  * ``librosa.griffinlim`` with n_iter=32 and its other defaults (momentum 0.99, random phase);
  * our Fast Griffin-Lim, 32 iterations from a random phase (``inversion.sweeps.griffin_lim``);
  * our PGHI alone (``reconstruct(method="pghi")``);
  * PGHI then FGLA (``reconstruct()``'s default method, with the default n_iter, momentum,
    frame groups per iteration and cosets of frames solved in turn).

Per method: spectral convergence (dB, lower is better), log-spectral distance (dB), seconds (the
best of ``--repeats`` runs, summed over the preset's signals), how many times faster than real
time, and the time as a fraction of librosa's. Signals:

  * zebra_finch: the four Sound Analysis Pro zebra finch songs shipped in the vocalpy 0.10.3 wheel
    (fetched once with pip into .cache/test-data, exactly like the tests' ``real_songs`` fixture);
  * bengalese_finch: the Bengalese Finch Song Repository song in the same wheel;
  * mouse_usv: the mouse USV clip (Goffinet et al. 2021) in the same wheel, resampled to 250 kHz;
  * speech_16k: a synthetic speech-like signal (formant-shaped harmonics with a moving pitch,
    fricative noise bursts, pauses), since no speech recording ships with the wheel.

    .venv/bin/python benchmarks/inversion.py                 # markdown table on stdout
    .venv/bin/python benchmarks/inversion.py --presets zebra_finch --repeats 5 --threads 1
    .venv/bin/python benchmarks/inversion.py --band          # only the bins each front end keeps
"""
from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import librosa  # noqa: E402

from gaia_audio import inversion  # noqa: E402
from gaia_audio.io import audio  # noqa: E402
from gaia_audio.spectral.metrics import log_spectral_distance_db, spectral_convergence_db  # noqa: E402
from gaia_audio.spectral.presets import PRESETS  # noqa: E402
from gaia_audio.spectral.stft import stft  # noqa: E402
from tests.conftest import CACHE, fetch_vocalpy_songs  # noqa: E402

WHEEL_EXTRAS = {"bengalese_finch": ("bl26lb16.wav",), "mouse_usv": ("BM003.wav",)}


def speech_like(sr: int = 16000, seconds: float = 2.5, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: voiced 'words' (harmonics of a moving f0 under moving formants),
    fricative noise bursts and pauses. Returns (n,) float32 peaking at 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 2.3 * t)  # Hz
    phase = 2 * np.pi * np.cumsum(f0) / sr
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480]])  # a i u e
    knots = np.linspace(0, seconds, 9)
    formants = np.stack([np.interp(t, knots, vowels[rng.integers(0, 4, len(knots)), i]) for i in range(3)])
    voiced = np.zeros(n)
    for k in range(1, int(sr / 2 / 90)):
        fk = k * f0
        gain = sum(np.exp(-0.5 * ((fk - fm) / (60 + 0.06 * fm)) ** 2) for fm in formants) / k ** 0.5
        voiced += np.where(fk < sr / 2 - 200, gain, 0) * np.sin(k * phase)
    words = ((t % 0.8) > 0.12) & ((t % 0.8) < 0.62)  # 0.5 s words separated by pauses
    envelope = np.convolve(words.astype(float), np.hanning(int(0.03 * sr)), mode="same")
    envelope /= envelope.max()
    noise = librosa.effects.preemphasis(rng.normal(0, 1, n), coef=0.95)
    fricative = ((t % 0.8) > 0.62) & ((t % 0.8) < 0.7)
    fric_env = np.convolve(fricative.astype(float), np.hanning(int(0.01 * sr)), mode="same")
    y = voiced / np.abs(voiced).max() * envelope + 0.15 * noise / np.abs(noise).max() * fric_env
    y += rng.normal(0, 1e-4, n)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def signals(preset: str, sr: int) -> list[tuple[str, np.ndarray]]:
    """(name, y at sr) pairs for one preset."""
    folder = CACHE / "vocalpy"
    if preset == "speech_16k":
        return [("synthetic speech-like", speech_like(sr))]
    paths = fetch_vocalpy_songs(folder)
    if preset in WHEEL_EXTRAS:
        wheel = next(folder.glob("vocalpy-0.10.3-*.whl"))
        paths = []
        with zipfile.ZipFile(wheel) as zf:
            for name in WHEEL_EXTRAS[preset]:
                (folder / name).write_bytes(zf.read(f"vocalpy/examples/{name}"))
                paths.append(folder / name)
    return [(p.stem, audio.load(p, sr=sr)[0]) for p in paths]


def run_preset(preset: str, repeats: int, band: bool = False) -> list[dict]:
    """One row per method for one preset: SC, LSD, seconds, real-time factor, time ratio.

    With ``band``, bins outside the preset's [fmin, fmax) are zeroed first (what the front end keeps).
    """
    p = PRESETS[preset]
    n_fft, hop, win, sr = p["n_fft"], p["hop_length"], p["win_length"], p["sr"]
    sigs = signals(preset, sr)
    methods = {
        "librosa.griffinlim (32 it.)": lambda M, n: librosa.griffinlim(
            M.numpy(), n_iter=32, hop_length=hop, win_length=win, n_fft=n_fft, length=n, random_state=0),
        "ours: FGLA (32 it., random phase)": lambda M, n: inversion.reconstruct(
            M, n_fft, hop, win, method="fgla", n_iter=32, length=n),
        "ours: PGHI": lambda M, n: inversion.reconstruct(M, n_fft, hop, win, method="pghi", length=n),
        f"ours: PGHI+FGLA ({inversion.DEFAULT_N_ITER} it., {inversion.DEFAULT_GROUPS} groups, "
        f"{inversion.coset_count(hop, win)} cosets, default)":
            lambda M, n: inversion.reconstruct(M, n_fft, hop, win, length=n),
    }
    rows = {name: dict(sc=[], lsd=[], weight=[], seconds=0.0) for name in methods}
    duration = sum(len(y) for _, y in sigs) / sr
    mags = []
    for _, y in sigs:
        mag = stft(torch.from_numpy(y), n_fft, hop, win).abs()  # (F, T)
        if band:
            freqs = torch.arange(mag.shape[0]) * sr / n_fft
            mag[(freqs < p["fmin"]) | (freqs >= p["fmax"])] = 0
        mags.append(mag)
    best = {(name, i): np.inf for name in methods for i in range(len(sigs))}
    for repeat in range(repeats):  # round-robin, so a busy spell of the machine hits every method alike
        for i, ((_, y), mag) in enumerate(zip(sigs, mags)):
            for name, func in methods.items():
                start = time.perf_counter()
                y_hat = func(mag, len(y))
                best[name, i] = min(best[name, i], time.perf_counter() - start)
                if repeat == 0:
                    est = stft(torch.as_tensor(np.asarray(y_hat, np.float32)), n_fft, hop, win).abs()
                    rows[name]["sc"].append(spectral_convergence_db(mag, est))
                    rows[name]["lsd"].append(log_spectral_distance_db(mag, est))
                    rows[name]["weight"].append(len(y))
    for (name, _), seconds in best.items():
        rows[name]["seconds"] += seconds
    ref = rows["librosa.griffinlim (32 it.)"]["seconds"]
    out = []
    for name, r in rows.items():
        w = np.asarray(r["weight"], float)
        out.append(dict(preset=preset, signal=", ".join(s for s, _ in sigs), settings=f"sr {sr}, n_fft {n_fft}, "
                        f"win {win}, hop {hop}", method=name, sc=float(np.average(r["sc"], weights=w)),
                        lsd=float(np.average(r["lsd"], weights=w)), seconds=r["seconds"],
                        realtime=duration / r["seconds"], ratio=r["seconds"] / ref, duration=duration))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["zebra_finch", "bengalese_finch", "speech_16k", "mouse_usv"],
                        choices=sorted(PRESETS))
    parser.add_argument("--repeats", type=int, default=3, help="time each call this many times, keep the best")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--band", action="store_true",
                        help="zero the bins outside each preset's fmin-fmax first (the magnitudes gaia-audio inverts)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [row for preset in args.presets for row in run_preset(preset, max(1, args.repeats), args.band)]
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), librosa {librosa.__version__}, "
          f"best of {args.repeats}; {'band-limited' if args.band else 'full-band'} magnitudes; "
          "spectral convergence (SC) and log-spectral distance (LSD) are "
          "duration-weighted means over each preset's signals\n")
    print("| preset (STFT) | signal | method | SC dB | LSD dB | seconds | × real time | time / librosa |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['preset']} ({r['settings']}) | {r['signal']} ({r['duration']:.1f} s) | {r['method']} | "
              f"{r['sc']:.1f} | {r['lsd']:.2f} | {r['seconds']:.3f} | {r['realtime']:.0f} | {r['ratio']:.2f} |")
    print()
    for preset in args.presets:
        lib, chain = [r for r in rows if r["preset"] == preset][0], [r for r in rows if r["preset"] == preset][-1]
        gain, ratio = lib["sc"] - chain["sc"], chain["ratio"]
        verdict = "met" if gain >= 10 and ratio <= 0.2 else "NOT met"
        print(f"{preset}: default chain {gain:.1f} dB better SC than librosa's 32-iteration Griffin-Lim "
              f"in {ratio:.2f}x its time (target >= 10 dB in <= 0.2x: {verdict})")


if __name__ == "__main__":
    main()
