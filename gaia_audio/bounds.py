"""The bounds a recipe's, a model's stored recipe's and the CLI's values must lie within, and the checks.

Kept apart from :mod:`gaia_audio.config` (which reads recipes) so that a command can check one
option against the same bound a recipe's key is held to, without reading any recipe. The checks
take a :class:`gaia_audio.config.Config` but never import it: this module sits below config.
"""
from __future__ import annotations

import math
import re
from typing import Any

from gaia_audio.errors import ConfigError

# ---- bounds a user would expect, for recipes, a model's stored recipe and the CLI alike ----------

#: highest sample rate in Hz (a recording's, a front end's or an output's): 384 kHz, the fastest
#: ultrasonic recorders'; a higher one only fills the disk.
MAX_SR = 384_000
#: most Fast Griffin-Lim iterations (``inversion.n_iter``, ``resynth --n-iter``): far past where
#: the spectral convergence stops improving (20 by default), and a morph still ends in minutes.
MAX_N_ITER = 1000
#: most samples in an analysis window (``frontend.n_fft``, ``win_length``, ``hop_length``), most
#: pixels on a side of a tile (``frontend.n_frames``), most mel bands (``frontend.n_mels``).
MAX_N_FFT, MAX_TILE_SIDE, MAX_N_MELS = 2**16, 4096, 1024
#: widest layer (``model.width``, ``style_dim``, ``mlp_dim``; ``latent_dim`` up to 16 times this),
#: 16 times the paper's 64 channels; a model file claiming more would only exhaust memory on load.
MAX_MODEL_WIDTH = 1024
#: most stride-2 downsamplings (``model.n_down``, ``style_n_down``) and residual blocks (``n_res``).
MAX_MODEL_DEPTH = 64
#: most sounds per continuum (``--steps``), and the largest |alpha| of ``--alpha-range`` (0 and 1
#: are the inputs; ten times their distance beyond them is no longer a morph of them).
MAX_STEPS, MAX_ALPHA = 10_000, 10.0
#: longest silence before or after each exported sound, and longest onset/offset ramp (ms).
MAX_SILENCE_MS, MAX_RAMP_MS = 60_000.0, 10_000.0
#: quietest target level or peak ceiling of an export (dBFS or LUFS); the loudest is 0.
MIN_LEVEL_DB = -100.0
#: longest recipe or stored config (characters); the built-in ones are under 4000.
MAX_YAML_CHARS = 1_000_000
#: most training steps, images per batch, and CPU threads (torch segfaults at 100000 threads).
MAX_TRAIN_STEPS, MAX_BATCH, MAX_THREADS = 10**9, 65_536, 1024
#: largest seed any command takes (numpy's and torch's generators take 64-bit seeds).
MAX_SEED = 2**63 - 1
#: most repetitions of a trial design (``trials``/``experiment --repeats``): a 16-step AX list
#: repeated 1000 times is 60,000 trials, far past any session.
MAX_REPEATS = 1000
#: most sounds of a grid or barycentric morph (``--steps`` is per edge there: 10000 steps would be 10⁸ sounds)
MAX_LATTICE_SOUNDS = 5000
#: longest input a morph takes (seconds): a continuum's ends are vocalizations or phrases; two
#: 60-second inputs took 7 GB to align and tune. Longer recordings are cut into units first.
MAX_MORPH_SECONDS = 20.0
#: largest multiple of an attribute vector (``--extent``, in standard deviations).
MAX_EXTENT = 100.0
#: the inversion methods (``gaia_audio.inversion.METHODS``; this module may not import that one).
INVERSION_METHODS = ("pghi+fgla", "pghi", "fgla")
#: the example datasets that ``data.prepare`` may name (gaia_audio.data.examples fetches them)
FETCHABLE_DATASETS = ("zebra_finch", "asterisk")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_grid_steps(steps: int) -> int:
    """Refuse a grid of ``steps`` per side whose steps² sounds exceed :data:`MAX_LATTICE_SOUNDS`.

    Raises:
        ConfigError: naming the count and the largest ``--steps`` that works.
    """
    if steps * steps > MAX_LATTICE_SOUNDS:
        raise ConfigError(f"a grid of {steps} steps per side makes {steps * steps} sounds (more than "
                          f"{MAX_LATTICE_SOUNDS}); use --steps {math.isqrt(MAX_LATTICE_SOUNDS)} or fewer")
    return steps


def in_bounds(value, lo: float, hi: float, none_ok: bool = True) -> bool:
    """True for a finite number in [lo, hi] (or None where allowed)."""
    if value is None:
        return none_ok
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and lo <= value <= hi


def check_model_values(config: Any, source: str = "<recipe>") -> Any:
    """Refuse front-end, inversion and model values out of the bounds above (a recipe's or a model file's).

    The front end checks how its values fit together (``fmax`` within ``sr / 2``, with the
    preset's values filled in) when it is built; this checks each value alone, so that a model
    file cannot make a command hang (``inversion.n_iter: 1e9``) or allocate without end.

    Returns:
        ``config`` unchanged.
    Raises:
        ConfigError: naming the key, its value and ``source``.
    """
    fc, ic, mc = config.frontend, config.inversion, config.model
    rules = [("frontend.kind", fc.kind in (None, "linear", "mel"), "null, linear or mel"),
             ("frontend.sr", in_bounds(fc.sr, 1, MAX_SR), f"null or a sample rate in 1..{MAX_SR} Hz"),
             ("frontend.n_fft", in_bounds(fc.n_fft, 1, MAX_N_FFT), f"null or in 1..{MAX_N_FFT}"),
             ("frontend.hop_length", in_bounds(fc.hop_length, 1, MAX_N_FFT), f"null or in 1..{MAX_N_FFT}"),
             ("frontend.win_length", in_bounds(fc.win_length, 1, MAX_N_FFT), f"null or in 1..{MAX_N_FFT}"),
             ("frontend.fmin", in_bounds(fc.fmin, 0, MAX_SR / 2), f"null or in 0..{MAX_SR // 2} Hz"),
             ("frontend.fmax", in_bounds(fc.fmax, 0, MAX_SR / 2), f"null or in 0..{MAX_SR // 2} Hz"),
             ("frontend.n_mels", in_bounds(fc.n_mels, 1, MAX_N_MELS), f"null or in 1..{MAX_N_MELS}"),
             ("frontend.preemphasis", in_bounds(fc.preemphasis, 0, 1), "null or in [0, 1)"),
             ("frontend.ref_db", in_bounds(fc.ref_db, -1000, 1000), "null or a finite level in dB"),
             ("frontend.min_db", in_bounds(fc.min_db, -1000, 1000), "null or a finite level in dB"),
             ("frontend.n_frames", in_bounds(fc.n_frames, 1, MAX_TILE_SIDE), f"null or in 1..{MAX_TILE_SIDE}"),
             ("inversion.method", ic.method in INVERSION_METHODS, f"one of {', '.join(INVERSION_METHODS)}"),
             ("inversion.n_iter", in_bounds(ic.n_iter, 0, MAX_N_ITER), f"in 0..{MAX_N_ITER}"),
             ("inversion.momentum", in_bounds(ic.momentum, 0, 2), "null or in 0..2"),
             ("model.width", in_bounds(mc.width, 1, MAX_MODEL_WIDTH), f"null or in 1..{MAX_MODEL_WIDTH}"),
             ("model.style_dim", in_bounds(mc.style_dim, 1, MAX_MODEL_WIDTH), f"null or in 1..{MAX_MODEL_WIDTH}"),
             ("model.mlp_dim", in_bounds(mc.mlp_dim, 1, MAX_MODEL_WIDTH), f"null or in 1..{MAX_MODEL_WIDTH}"),
             ("model.latent_dim", in_bounds(mc.latent_dim, 0, 16 * MAX_MODEL_WIDTH),
              f"null or in 0..{16 * MAX_MODEL_WIDTH}"),
             ("model.n_down", in_bounds(mc.n_down, 0, MAX_MODEL_DEPTH), f"null or in 0..{MAX_MODEL_DEPTH}"),
             ("model.style_n_down", in_bounds(mc.style_n_down, 0, MAX_MODEL_DEPTH), f"null or in 0..{MAX_MODEL_DEPTH}"),
             ("model.n_res", in_bounds(mc.n_res, 0, MAX_MODEL_DEPTH), f"null or in 0..{MAX_MODEL_DEPTH}")]
    for key, ok, need in rules:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(config, section), name)
            raise ConfigError(f"'{key}' must be {need}, got {value!r}", source)
    return config


def check_values(config: Any, source: str = "<recipe>") -> Any:
    """Refuse training and data values that cannot work, and front-end, inversion and model values out of
    bounds (:func:`check_model_values`).

    Returns:
        ``config`` unchanged.
    Raises:
        ConfigError: naming the key, e.g. a zero batch size or a NaN learning rate.
    """
    tc, dc = config.train, config.data
    rules = [("train.steps", 0 <= tc.steps <= MAX_TRAIN_STEPS, f"in 0..{MAX_TRAIN_STEPS}"),
             ("train.batch_size", 1 <= tc.batch_size <= MAX_BATCH, f"in 1..{MAX_BATCH}"),
             ("train.lr_max", math.isfinite(tc.lr_max) and tc.lr_max > 0, "a finite number > 0"),
             ("train.distance_weight", math.isfinite(tc.distance_weight) and tc.distance_weight >= 0,
              "finite and >= 0"),
             ("train.seed", 0 <= tc.seed < 2**62, "in [0, 2**62)"),
             ("train.log_every", tc.log_every >= 1, ">= 1"),
             ("train.checkpoint_every", tc.checkpoint_every >= 1, ">= 1"),
             ("train.keep_last", tc.keep_last >= 0, ">= 0 (0 keeps all)"),
             ("train.sample_every", tc.sample_every >= 0, ">= 0 (0 for never)"),
             ("train.max_bad_steps", tc.max_bad_steps >= 0, ">= 0"),
             ("train.ema_kimg", 0 <= tc.ema_kimg <= 1e6, "in 0..1e6"),
             ("train.ema_rampup", 0 < tc.ema_rampup <= 1, "in (0, 1]"),
             ("train.threads", 0 <= tc.threads <= MAX_THREADS, f"in 0..{MAX_THREADS} (0: torch's default)"),
             ("train.device", bool(_DEVICE_RE.match(tc.device)), "auto, cpu, mps, cuda or cuda:N"),
             ("data.prepare", dc.prepare is None or dc.prepare in FETCHABLE_DATASETS,
              f"null or one of {', '.join(FETCHABLE_DATASETS)} (an example dataset's name, never a path)"),
             ("data.holdout", 0 <= dc.holdout < 1, "in [0, 1)"),
             ("data.max_shift_frames", dc.max_shift_frames >= 0, ">= 0"),
             ("data.max_gain_db", math.isfinite(dc.max_gain_db) and dc.max_gain_db >= 0, "finite and >= 0"),
             ("data.max_freq_shift_bins", dc.max_freq_shift_bins >= 0, ">= 0"),
             ("data.image_size", dc.image_size >= 1, ">= 1"),
             ("model.vae_beta", math.isfinite(config.model.vae_beta) and config.model.vae_beta >= 0, "finite and >= 0")]
    for key, ok, need in rules:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(config, section), name)
            raise ConfigError(f"'{key}' must be {need}, got {value!r}", source)
    return check_model_values(config, source)
