"""A synthetic Bengalese-finch-like song for segmentation tests: ~20 syllables of 35-85 ms
(harmonic stacks and frequency sweeps within 1-8 kHz, some softer than others) apart by 20-60 ms
gaps, over a quiet background with low-frequency cage noise, at 32 kHz."""
from __future__ import annotations

import numpy as np
import scipy.signal


def make_bengalese_song(sr: int = 32000, n_syllables: int = 20, seed: int = 0,
                        durations: tuple[float, float] = (0.035, 0.085), gaps: tuple[float, float] = (0.02, 0.06),
                        levels_db: tuple[float, float] = (-28.0, 0.0)) -> tuple[np.ndarray, int, list]:
    """Syllables with 4 ms raised-cosine ramps and up to 6 dB of amplitude modulation, each at a
    random level in ``levels_db`` re the loudest; the background lies ~50 dB below the loudest.

    The levels and the background follow what :func:`gaia_audio.data.segment.detect_units` measures
    on a real Bengalese finch song (the vocalseg example of Sainburg et al. 2020): syllable peaks
    spread over ~30 dB, background 46-54 dB under the loud reference.

    Returns:
        (y (n,) float32 in [-1, 1], sr, [(onset_s, offset_s), ...] of each syllable's sound).
    """
    rng = np.random.default_rng(seed)
    lead = 0.1
    layout, t0 = [], lead
    for _ in range(n_syllables):
        dur = rng.uniform(*durations)
        layout.append((t0, dur))
        t0 += dur + rng.uniform(*gaps)
    n = int(round((layout[-1][0] + layout[-1][1] + lead) * sr))
    y = np.zeros(n)
    units = []
    for k, (onset, dur) in enumerate(layout):
        start, length = int(round(onset * sr)), int(round(dur * sr))
        t = np.arange(length) / sr
        if k % 2 == 0:  # harmonic stack, f0 1-2 kHz, slight FM; harmonics up to 8 kHz
            f0 = rng.uniform(1000.0, 2000.0) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(5, 20) * t))
            phase = 2 * np.pi * np.cumsum(f0) / sr
            syl = sum(np.sin(h * phase) / h for h in range(1, 9) if h * f0.max() < 8000)
        else:  # sweep between 1.5 and 7.5 kHz with its second harmonic when it fits
            f_start, f_end = rng.uniform(1500.0, 7500.0, size=2)
            phase = 2 * np.pi * np.cumsum(f_start + (f_end - f_start) * t / dur) / sr
            syl = np.sin(phase) + (0.3 * np.sin(2 * phase) if 2 * max(f_start, f_end) < 8000 else 0)
        ramp = int(0.004 * sr)
        env = np.ones(length)
        env[:ramp] = env[-ramp:][::-1] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        env *= 1 - 0.25 * (1 + np.sin(2 * np.pi * rng.uniform(15, 40) * t + rng.uniform(0, 2 * np.pi)))
        level = 10 ** (rng.uniform(*levels_db) / 20)
        y[start:start + length] += level * env * syl / np.abs(syl).max()
        units.append((start / sr, (start + length) / sr))
    rumble = scipy.signal.sosfilt(scipy.signal.butter(2, 300, fs=sr, output="sos"), rng.normal(0, 1, n))
    y = 0.5 * y + 0.003 * rumble / np.abs(rumble).max() + rng.normal(0, 1e-3, n)
    return y.astype(np.float32), sr, units
