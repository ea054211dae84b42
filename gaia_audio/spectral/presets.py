"""Named front-end presets from the literature, and :func:`make_frontend` to build one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gaia_audio.errors import ConfigError

if TYPE_CHECKING:  # the front ends import torch; reading PRESETS (dataset preparation) does not need it
    from gaia_audio.spectral.frontend import Spectrogram

# Every preset sets every field; a recipe overrides any of them (None = keep the preset's value).
# Shared by all: Hann window, pre-emphasis 0.97 and an 80 dB range below a full-scale sine, as in
# Sainburg, Thielk & Gentner 2020 (PLoS Comput Biol 16: e1008228) "Finding, visualizing, and
# quantifying latent structure across diverse animal vocal repertoires" (Hann STFT, pre-emphasis
# 0.97, dB floor at -60...-80 dB). Hops are 1/8 of the window (1/5 for starling, as published):
# phase retrieval, PGHI in particular, needs that redundancy, and tiles are resized in time anyway.
PRESETS: dict[str, dict] = {
    # Zebra finch. Sainburg et al. 2020 use n_fft 1024, 5 ms window, 1 ms hop; AVA (Goffinet et al.
    # 2021, eLife 10: e67855) 32 kHz, 400 Hz-10 kHz, 512-sample windows. Ours is smaller on purpose:
    # the default recipe trains on a 2-core CPU in minutes, so the tile is 87 x 64. At 22050 Hz a
    # 256-sample window (11.6 ms, 86 Hz bins) resolves the harmonics of a 500-700 Hz stack; the
    # band 500 Hz-8 kHz holds nearly all of the song's energy (87 bins). The 1.45 ms hop (1/8 of
    # the window) puts a 60-300 ms syllable on 41-207 frames, stretched to 64 (at most ~3x).
    "zebra_finch": dict(kind="linear", sr=22050, n_fft=256, hop_length=32, win_length=256, fmin=500.0,
                        fmax=8000.0, n_mels=48, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # Bengalese finch: TweetyNet/vak's settings for the Bengalese Finch Song Repository (Cohen et al.
    # 2022, eLife 11: e63853): 32 kHz, 512-point FFT, hop 64, 500 Hz-10 kHz (152 bins).
    "bengalese_finch": dict(kind="linear", sr=32000, n_fft=512, hop_length=64, win_length=512, fmin=500.0,
                            fmax=10000.0, n_mels=64, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # European starling: Sainburg et al. 2020's birdsong STFT (n_fft 1024, 5 ms Hann window, 1 ms
    # hop) at 44.1 kHz; band 500 Hz-12 kHz for the whistles and broadband clicks (267 bins).
    "starling": dict(kind="linear", sr=44100, n_fft=1024, hop_length=44, win_length=220, fmin=500.0,
                     fmax=12000.0, n_mels=128, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=64),
    # Speech at 16 kHz: TiFGAN's STFT (Marafioti et al. 2019, ICML, "Adversarial generation of
    # time-frequency features with application in audio synthesis"): 512-sample (32 ms) window,
    # 256 bins (0-8 kHz without Nyquist), 128 frames; its hop of 128 halved to 64 (4 ms) for phase
    # retrieval (redundancy 8). Pre-emphasis 0.97 as in Tacotron.
    "speech_16k": dict(kind="linear", sr=16000, n_fft=512, hop_length=64, win_length=512, fmin=0.0,
                       fmax=8000.0, n_mels=80, preemphasis=0.97, ref_db=0.0, min_db=-80.0, n_frames=128),
    # Mouse ultrasonic vocalizations: AVA's mouse settings (Goffinet et al. 2021): 250 kHz, band
    # 30-110 kHz. AVA's 1024/512 STFT overlaps too little to invert; we use 512-sample (2 ms)
    # windows with a 64 hop (0.26 ms, redundancy 8): 164 bins; no pre-emphasis (the band is far
    # above any low-frequency noise it would tame).
    "mouse_usv": dict(kind="linear", sr=250000, n_fft=512, hop_length=64, win_length=512, fmin=30000.0,
                      fmax=110000.0, n_mels=64, preemphasis=0.0, ref_db=0.0, min_db=-80.0, n_frames=64),
}
DEFAULT_PRESET = "zebra_finch"
KINDS = ("linear", "mel")


def make_frontend(preset: str | None = None, kind: str | None = None, **overrides) -> Spectrogram:
    """Build a front end from a named preset, overriding any of its fields.

    Args:
        preset: a key of :data:`PRESETS`; None means "zebra_finch".
        kind: "linear" or "mel"; None keeps the preset's ("linear" for all presets).
        overrides: any of sr, n_fft, hop_length, win_length, fmin, fmax, n_mels, preemphasis,
            ref_db, min_db, n_frames; None values are ignored (the FrontendConfig convention).
    Returns:
        a :class:`Spectrogram` or :class:`MelSpectrogram`.
    Raises:
        ConfigError: unknown preset, kind or field, or settings that cannot work.
    """
    name = DEFAULT_PRESET if preset is None else preset
    if name not in PRESETS:
        raise ConfigError(f"unknown frontend preset '{name}' (use one of {', '.join(PRESETS)})")
    args = dict(PRESETS[name])
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ConfigError(f"unknown frontend setting(s) {', '.join(unknown)}")
    args.update({k: v for k, v in overrides.items() if v is not None})
    if kind is not None:
        args["kind"] = kind
    kind = args.pop("kind")
    n_mels = args.pop("n_mels")
    from gaia_audio.spectral.frontend import Spectrogram
    from gaia_audio.spectral.mel import MelSpectrogram

    if kind == "linear":
        return Spectrogram(**args)
    if kind == "mel":
        return MelSpectrogram(n_mels=n_mels, **args)
    raise ConfigError(f"unknown frontend kind '{kind}' (use one of {', '.join(KINDS)})")
