"""Dataclass configs, one per component, that map 1:1 onto YAML recipes.

A recipe is a YAML mapping whose top-level keys are the fields of :class:`Config`. It may name
other recipes under ``include:`` (paths relative to the recipe), merged first, so that a dataset
recipe only overrides a few keys of ``base.yaml``. ``--set a.b=value`` overrides are applied last.
Every unknown key is an error naming the key and the file. YAML is always safe-loaded.

The front end and the network's size come from presets shipped as YAML (``recipes/presets/``):
every ``frontend`` or ``model`` size key a recipe leaves out (or null) takes the value of the
preset it names (:func:`resolve_presets`), so a loaded Config states what a model is built with.
The value bounds and their checks are in :mod:`gaia_audio.bounds`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from gaia_audio.bounds import MAX_YAML_CHARS, check_values
from gaia_audio.errors import ConfigError


@dataclass
class FrontendConfig:
    """Spectrogram front end (fields are ``spectral.frontend.Spectrogram`` arguments; None = from preset,
    filled in by :func:`resolve_presets` when a recipe or stored config is read)."""

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
    """GAIA and its baselines (``models.build_model`` arguments; None = from the size preset, filled in
    by :func:`resolve_presets` when a recipe or stored config is read)."""

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
    return check_values(resolve_presets(from_dict(Config, data, source), source), source)


# ---- presets: the front ends and network sizes a recipe names, shipped as YAML ----------------

#: ``frontend/<name>.yaml`` (every front-end key) and ``model/<size>.yaml`` (every :data:`MODEL_SIZE_KEYS`)
PRESETS_DIR = RECIPES_DIR / "presets"
DEFAULT_FRONTEND_PRESET = "zebra_finch"
#: the model settings a size preset sets (``model.kind`` and ``vae_beta`` are no part of a size)
MODEL_SIZE_KEYS = ("width", "n_down", "n_res", "style_n_down", "style_dim", "mlp_dim", "latent_dim")


def read_presets(folder: str | os.PathLike, cls: type, keys: tuple[str, ...]) -> dict[str, dict]:
    """Every ``<name>.yaml`` in ``folder`` as {name: values}, each file stating each of ``keys`` (fields of
    dataclass ``cls``, type-checked as in a recipe) and nothing else.

    Raises:
        ConfigError: naming the file: not valid YAML (an alias too), an unknown, missing or null key.
    """
    table = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        data = read_yaml(path)
        built = from_dict(cls, data, str(path))  # unknown keys and wrong types
        missing = [k for k in keys if data.get(k) is None]
        if missing:
            raise ConfigError(f"a preset must state {', '.join(missing)}", path)
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise ConfigError(f"a preset may not state {', '.join(unknown)}", path)
        table[path.stem] = {k: getattr(built, k) for k in keys}
    return table


@functools.lru_cache(maxsize=None)
def _tables() -> tuple[dict[str, dict], dict[str, dict]]:
    frontend_keys = tuple(f.name for f in fields(FrontendConfig) if f.name != "preset")
    return (read_presets(PRESETS_DIR / "frontend", FrontendConfig, frontend_keys),
            read_presets(PRESETS_DIR / "model", ModelConfig, MODEL_SIZE_KEYS))


def frontend_presets() -> dict[str, dict]:
    """The front-end presets, {name: every frontend setting} (a fresh copy: callers may change it)."""
    return {name: dict(values) for name, values in _tables()[0].items()}


def model_sizes() -> dict[str, dict]:
    """The network size presets, {size: every :data:`MODEL_SIZE_KEYS` setting} (a fresh copy)."""
    return {name: dict(values) for name, values in _tables()[1].items()}


def resolve_presets(config: Config, source: str = "<recipe>") -> Config:
    """``config`` with every front-end and model-size field that is None taken from the preset it names.

    Values the recipe states win; a null ``frontend.preset`` is the default one. A resolved config
    resolves to itself, so an old stored config (nulls) and its resolved copy compare equal after this.

    Raises:
        ConfigError: an unknown ``frontend.preset`` or ``model.size``, naming ``source``.
    """
    fc, mc = config.frontend, config.model
    name = DEFAULT_FRONTEND_PRESET if fc.preset is None else fc.preset
    presets, sizes = _tables()
    if name not in presets:
        raise ConfigError(f"unknown frontend preset '{name}' (use one of {', '.join(presets)})", source)
    if mc.size not in sizes:
        raise ConfigError(f"unknown model size '{mc.size}' (use one of {', '.join(sizes)})", source)
    frontend = dataclasses.replace(fc, preset=name, **{k: v for k, v in presets[name].items()
                                                      if getattr(fc, k) is None})
    model = dataclasses.replace(mc, **{k: v for k, v in sizes[mc.size].items() if getattr(mc, k) is None})
    return dataclasses.replace(config, frontend=frontend, model=model)
