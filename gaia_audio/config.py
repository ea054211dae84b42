"""Dataclass configs, one per component, that map 1:1 onto YAML recipes.

A recipe is a YAML mapping whose top-level keys are the fields of :class:`Config`. It may name
other recipes under ``include:`` (paths relative to the recipe), merged first, so that a dataset
recipe only overrides a few keys of ``base.yaml``. ``--set a.b=value`` overrides are applied last.
Every unknown key is an error naming the key and the file. YAML is always safe-loaded.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from gaia_audio.errors import ConfigError


@dataclass
class FrontendConfig:
    """Spectrogram front end (fields are ``spectral.frontend.Spectrogram`` arguments; None = from preset)."""

    preset: str | None = "zebra_finch"
    kind: str | None = None  # "linear" (band-limited STFT) | "mel"
    sr: int | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    win_length: int | None = None
    fmin: float | None = None
    fmax: float | None = None
    n_mels: int | None = None
    preemphasis: float | None = None
    ref_db: float | None = None
    min_db: float | None = None
    n_frames: int | None = None  # tile width in frames


@dataclass
class InversionConfig:
    """Phase reconstruction (``inversion.reconstruct`` arguments)."""

    method: str = "pghi+fgla"  # "pghi" | "fgla" | "pghi+fgla"
    n_iter: int = 20  # FGLA iterations after PGHI (= inversion.DEFAULT_N_ITER; benchmarks/inversion.py)
    momentum: float | None = None  # FGLA's alpha; None = the method's (inversion.DEFAULT_MOMENTUM, COSET_MOMENTUM)


@dataclass
class ModelConfig:
    """GAIA and its baselines (``models.build_model`` arguments; None = from the size preset)."""

    kind: str = "gaia"  # "gaia" | "ae" | "vae"
    size: str = "small"  # "paper" | "small"
    width: int | None = None  # base channels of the generator (paper: 64)
    n_down: int | None = None  # stride-2 downsamplings on the content path (paper: 2)
    n_res: int | None = None  # residual blocks (paper: 4)
    style_n_down: int | None = None  # stride-2 downsamplings on the style path (paper: 4)
    style_dim: int | None = None  # style code size (paper: 512)
    mlp_dim: int | None = None  # AdaIN MLP width (paper: 256)
    latent_dim: int | None = None  # dense content code size (paper: 512); 0 keeps the feature map
    vae_beta: float = 1.0  # KL weight for kind == "vae"


@dataclass
class DataConfig:
    """Where tiles come from."""

    kind: str = "audio"  # "audio" (manifest of sound files) | "images" (manifest of image files) | "lines"
    root: str = "data/zebra_finch"  # dataset folder, holds manifest.csv
    manifest: str = "manifest.csv"  # relative to root
    prepare: str | None = "zebra_finch"  # an example dataset fetched when root has no manifest (FETCHABLE_DATASETS)
    cache_dir: str | None = None  # tile cache; default <root>/cache
    holdout: float = 0.1  # fraction of units kept out of training (for evaluation)
    augment: bool = True  # time shift, gain, small frequency shift
    max_shift_frames: int = 4
    max_gain_db: float = 6.0
    max_freq_shift_bins: int = 1
    image_size: int = 64  # images only


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = 2000
    batch_size: int = 16
    lr_max: float = 1e-4  # sigmoid balancing's ceiling learning rate
    distance_weight: float = 5e-5  # w on the distance loss
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    threads: int = 0  # torch CPU threads, 0 = torch's default
    log_every: int = 10
    checkpoint_every: int = 200
    keep_last: int = 3
    sample_every: int = 500
    max_bad_steps: int = 3  # NaN/Inf rollbacks before giving up
    ema_kimg: float = 5.0  # half-life of the generator's weight average in thousands of images; 0 = off
    ema_rampup: float = 0.05  # the half-life is at most this fraction of the images seen so far


@dataclass
class Config:
    """A whole recipe."""

    name: str = "run"
    runs_dir: str = "runs"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _check_type(value: Any, hint: Any, key: str, source: str) -> Any:
    """Coerce ``value`` to the field type ``hint`` or raise a ConfigError naming ``key``."""
    args = getattr(hint, "__args__", ())
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"'{key}' may not be null", source)
    base = [a for a in args if a is not type(None)][0] if args else hint
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif base is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"'{key}' must be {getattr(base, '__name__', base)}, got {value!r}", source)


def from_dict(cls: type, data: dict, source: str = "<recipe>", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix.rstrip('.') or 'recipe'}' must be a mapping", source)
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown key '{prefix}{key}'", source)
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value or {}, source, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_type(value, hint, prefix + key, source)
    return cls(**kwargs)


def to_dict(config: Any) -> dict:
    """The plain mapping of a config (what a checkpoint stores as YAML)."""
    return dataclasses.asdict(config)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` can repeat a node without bound (a 453-byte
    "billion laughs" grows to gigabytes), and no recipe or model needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, f"aliases (*name) are not allowed, line {mark.line + 1}",
                                              mark)
        return super().compose_node(parent, index)


def safe_load(text: str):
    """Parse YAML as ``yaml.safe_load`` does, refusing aliases (:class:`_NoAliasLoader`) and texts over 1 MB.

    Raises:
        yaml.YAMLError: not valid YAML, an alias, or too long.
    """
    if len(text) > MAX_YAML_CHARS:
        raise yaml.YAMLError(f"{len(text)} characters, more than a recipe's {MAX_YAML_CHARS}")
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)


def read_yaml(path: str | os.PathLike) -> dict:
    """Safe-load a YAML mapping, with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such recipe file", path)
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"not valid YAML ({problem})", path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("a recipe must be a YAML mapping of sections", path)
    return data


def load_recipe_dict(path: str | os.PathLike, _seen: tuple = ()) -> dict:
    """Read a recipe and the recipes it includes, merged in order, as one mapping."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError("recipe includes itself", path)
    data = read_yaml(path)
    includes = data.pop("include", None) or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError("'include' must be a file name or a list of them", path)
    merged: dict = {}
    for inc in includes:
        merged = _deep_merge(merged, load_recipe_dict(path.parent / inc, _seen + (path,)))
    # validate this file's own keys against the schema so errors name the right file
    from_dict(Config, _deep_merge(to_dict(Config()), data), str(path))
    return _deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into (["a", "b"], value), the value parsed as YAML (safe)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.sub=value")
    key, raw = text.split("=", 1)
    try:
        value = safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return [k for k in key.strip().split(".") if k], value


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply ``--set key.sub=value`` overrides to a recipe mapping (returns a new mapping)."""
    out = _deep_merge({}, data)
    for text in overrides:
        keys, value = parse_override(text)
        if not keys:
            raise ConfigError(f"override '{text}' has no key")
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{text}': '{k}' is not a section")
        node[keys[-1]] = value
    return out


#: the built-in recipes, shipped inside the package (``recipes/`` in a checkout is a link to them)
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


def builtin_recipes() -> list[str]:
    """Names of the built-in recipes (``gaia-audio train NAME``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe(recipe: str | os.PathLike) -> Path:
    """A recipe file: ``recipe`` itself when it is a path to a file, else the built-in recipe of that name.

    Raises:
        ConfigError: neither a file nor a built-in recipe's name.
    """
    path = Path(recipe)
    if path.is_file() or os.sep in str(recipe) or path.suffix in (".yaml", ".yml"):
        return path
    if str(recipe) in builtin_recipes():
        return RECIPES_DIR / f"{recipe}.yaml"
    raise ConfigError(f"no such recipe file, nor a built-in recipe (built-in: {', '.join(builtin_recipes())})",
                      recipe)


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a recipe (a file, or a built-in recipe's name, with includes) and apply overrides into a
    validated :class:`Config`."""
    path = resolve_recipe(path) if path is not None else None
    data = load_recipe_dict(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = f"{path} (with --set)" if overrides and path else (str(path) if path else "--set")
    return check_values(from_dict(Config, data, source), source)


#: the example datasets that ``data.prepare`` may name (gaia_audio.data.examples fetches them)
FETCHABLE_DATASETS = ("zebra_finch", "asterisk")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_values(config: Config, source: str = "<recipe>") -> Config:
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


def check_model_values(config: Config, source: str = "<recipe>") -> Config:
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
