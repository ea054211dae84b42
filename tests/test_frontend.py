"""Front ends: presets, validation, shapes, calibration, exact round trips, tiles, inversion."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gaia_audio.config import FrontendConfig
from gaia_audio.errors import ConfigError
from gaia_audio.inversion import invert
from gaia_audio.spectral.frontend import Spectrogram
from gaia_audio.spectral.mel import MelSpectrogram
from gaia_audio.spectral.metrics import spectral_convergence_db
from gaia_audio.spectral.presets import PRESETS, make_frontend

# n_freq each preset documents (linear kind), and its mel band count
N_FREQ = {"zebra_finch": 87, "bengalese_finch": 152, "starling": 267, "speech_16k": 256, "mouse_usv": 164}


def bird_like(sr: int, seconds: float = 0.3, f0: float = 700.0, seed: int = 0) -> np.ndarray:
    """A harmonic stack with a sweep and a smooth envelope, (n,) float32."""
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.3 * t / seconds)) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.sin(np.pi * t / seconds) ** 2
    y = 0.3 * y + np.random.default_rng(seed).normal(0, 1e-3, len(t))
    return y.astype(np.float32)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_with_its_documented_size(preset):
    fe = make_frontend(preset)
    assert isinstance(fe, Spectrogram) and fe.kind == "linear"
    assert fe.tile_shape == (N_FREQ[preset], PRESETS[preset]["n_frames"])
    assert fe.frequencies.min() >= fe.fmin and fe.frequencies.max() < fe.fmax
    mel = make_frontend(preset, kind="mel")
    assert isinstance(mel, MelSpectrogram) and mel.tile_shape == (PRESETS[preset]["n_mels"], fe.n_frames)
    for built in (fe, mel):  # settings rebuild the same front end
        assert make_frontend(preset="zebra_finch", **built.settings).settings == built.settings


def test_the_config_dataclass_builds_the_default_front_end():
    fe = make_frontend(**dataclasses.asdict(FrontendConfig()))
    assert fe.tile_shape == (87, 64) and fe.sr == 22050
    fe = make_frontend(**dataclasses.asdict(FrontendConfig(preset="speech_16k", n_frames=32, fmax=4000.0)))
    assert fe.n_frames == 32 and fe.fmax == 4000 and fe.sr == 16000  # overrides win, None keeps the preset


@pytest.mark.parametrize("kwargs,message", [
    (dict(preset="canary"), "unknown frontend preset 'canary'"),
    (dict(kind="cqt"), "unknown frontend kind 'cqt'"),
    (dict(n_bins=3), "unknown frontend setting"),
    (dict(fmax=12000.0), "above the Nyquist"),
    (dict(hop_length=300), "hop_length .* must be <= win_length"),
    (dict(win_length=512), "win_length .* must be <= n_fft"),
    (dict(hop_length=250), "cannot be inverted"),
    (dict(fmin=9000.0), "fmin < fmax"),
    (dict(fmin=1000.0, fmax=1030.0), "holds no FFT bin"),
    (dict(n_fft=0), "n_fft must be a positive integer"),
    (dict(sr=22050.5), "sr must be a positive integer"),
    (dict(preemphasis=1.0), "preemphasis"),
    (dict(ref_db=-90.0), "ref_db"),
    (dict(kind="mel", n_mels=200), "too many"),
])
def test_bad_settings_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_frontend(**{"preset": "zebra_finch", **kwargs})


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_shapes_for_single_and_batched_input(kind):
    fe = make_frontend("zebra_finch", kind=kind)
    y = np.stack([bird_like(fe.sr), bird_like(fe.sr, f0=900, seed=1)])
    single = fe(y[0])
    batch = fe(torch.from_numpy(y))
    n_time = 1 + y.shape[1] // fe.hop_length
    assert single.shape == (1, fe.n_freq, n_time) and batch.shape == (2, fe.n_freq, n_time)
    assert batch.min() >= 0 and batch.max() <= 1
    torch.testing.assert_close(batch[:1], single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_fft", [256, 1024])
def test_a_full_scale_sine_reads_ref_db_whatever_n_fft(n_fft):
    sr = 16000
    fe = make_frontend("speech_16k", n_fft=n_fft, win_length=n_fft, hop_length=n_fft // 4, preemphasis=0.0,
                       ref_db=0.0, min_db=-80.0)
    freq = 40 * sr / n_fft if n_fft == 1024 else 10 * sr / n_fft  # on a bin centre
    y = np.sin(2 * np.pi * freq * np.arange(sr) / sr).astype(np.float32)
    S = fe(y)[0, :, 4:-4]
    assert S.max().item() == pytest.approx(1.0, abs=0.01)  # 0 dB within 0.8 dB


def test_stft_round_trip_and_preemphasis_round_trip():
    fe = make_frontend("zebra_finch")
    y = torch.from_numpy(bird_like(fe.sr))
    torch.testing.assert_close(fe.istft(fe.stft(y), length=len(y))[0], y, atol=2e-5, rtol=0)
    torch.testing.assert_close(fe.deemphasize(fe.emphasize(y)), y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(3000,), (2, 3000), (2, 3, 500), (4, 0)])
def test_deemphasize_equals_scipy_lfilter(shape):
    """The numba de-emphasis is scipy.signal.lfilter([1], [1, -a]) along the last axis, exactly."""
    scipy_signal = pytest.importorskip("scipy.signal")
    fe = make_frontend("zebra_finch")
    y = torch.from_numpy(np.random.default_rng(1).normal(0, 0.3, shape)).double()
    expected = scipy_signal.lfilter([1.0], [1.0, -fe.preemphasis], y.numpy(), axis=-1)
    out = fe.deemphasize(y)
    assert out.shape == y.shape and out.dtype == y.dtype
    assert np.array_equal(out.numpy(), expected)
    assert fe.deemphasize(y.float()).dtype == torch.float32


@pytest.mark.parametrize("preset", ["zebra_finch", "mouse_usv"])
def test_to_magnitude_inverts_the_mapping_above_the_floor(preset):
    fe = make_frontend(preset)
    y = bird_like(fe.sr, f0=700 if preset == "zebra_finch" else 40000)
    mag = fe.magnitude(y)
    back = fe.to_magnitude(fe(y))
    assert back.shape == mag.shape
    lo, hi = fe.bin_lo, fe.bin_hi
    above = mag[:, lo:hi] * fe.scale > fe.floor_amplitude * 1.01
    torch.testing.assert_close(back[:, lo:hi][above], mag[:, lo:hi][above], rtol=1e-3, atol=0)
    assert torch.all(back[:, :lo] == 0) and torch.all(back[:, hi:] == 0)
    floor = (back[:, lo:hi][~above] * fe.scale).numpy()
    np.testing.assert_allclose(floor, fe.floor_amplitude, rtol=0.02)


def test_mel_inverse_is_the_identity_on_magnitudes_in_range():
    fe = make_frontend("zebra_finch", kind="mel")
    rng = np.random.default_rng(0)
    levels_db = rng.uniform(-70, -10, (2, fe.n_fft // 2 + 1, 30))  # every band between floor and reference
    S = fe.from_magnitude(torch.from_numpy(10 ** (levels_db / 20) / fe.scale).float())
    assert S.shape == (2, fe.n_mels, 30) and 0 < S.min() and S.max() < 1
    mag = fe.to_magnitude(S)
    assert mag.shape == (2, fe.n_fft // 2 + 1, 30) and torch.all(mag >= 0)
    torch.testing.assert_close(fe.from_magnitude(mag), S, atol=1e-4, rtol=0)


@pytest.mark.parametrize("n_time", [20, 64, 150])
def test_tile_and_untile_keep_the_frame_count(n_time):
    fe = make_frontend("zebra_finch")
    t = torch.linspace(0, 1, n_time)
    S = (0.5 + 0.4 * torch.sin(2 * np.pi * t)[None, None]
         * torch.linspace(0, 1, fe.n_freq)[None, :, None]).repeat(2, 1, 1)
    tiles, T = fe.tile(S)
    assert tiles.shape == (2, 1, fe.n_freq, fe.n_frames) and T == n_time
    back = fe.untile(tiles, T)
    assert back.shape == S.shape
    assert (back - S).abs().max() < (0.03 if n_time <= fe.n_frames else 0.1)  # a smooth S survives
    with pytest.raises(ValueError, match="n_frames must be >= 1"):
        fe.untile(tiles, 0)


def test_waveform_to_tile_and_back_restores_the_duration(synthetic_song):
    y, sr, units = synthetic_song
    fe = make_frontend("zebra_finch")
    import librosa

    onset, offset = units[0]
    unit = librosa.resample(y, orig_sr=sr, target_sr=fe.sr)[int(onset * fe.sr):int(offset * fe.sr)]
    tile, T = fe.waveform_to_tile(torch.from_numpy(unit))
    assert tile.shape == (1, *fe.tile_shape) and T == 1 + len(unit) // fe.hop_length
    y_hat = invert(fe, fe.untile(tile[None], T), length=len(unit), n_iter=8)
    assert y_hat.shape == (1, len(unit))
    assert invert(fe, fe.untile(tile, T), n_iter=0, method="pghi").shape == (1, (T - 1) * fe.hop_length)


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_invert_resynthesizes_what_the_spectrogram_holds(kind):
    fe = make_frontend("zebra_finch", kind=kind)
    y = np.stack([bird_like(fe.sr), bird_like(fe.sr, f0=500, seed=2)])
    S = fe(y)
    y_hat = invert(fe, S, length=y.shape[1], n_iter=16)
    assert y_hat.shape == y.shape and y_hat.dtype == torch.float32
    assert (fe(y_hat) - S).abs().mean() < 0.03  # the same spectrogram, in the front end's own terms
    if kind == "linear":
        band = slice(fe.bin_lo, fe.bin_hi)
        assert spectral_convergence_db(fe.to_magnitude(S)[:, band], fe.magnitude(y_hat)[:, band]) < -20
    # the waveform itself comes back close in level (phase differs, so compare spectra, not samples)
    assert np.std(y_hat.numpy()) == pytest.approx(np.std(y), rel=0.25)


def test_real_song_resynthesis_keeps_the_in_band_spectrogram(real_songs):
    from gaia_audio.io import audio

    fe = make_frontend("zebra_finch")
    y, _ = audio.load(real_songs[3], sr=fe.sr)
    S = fe(y[: fe.sr // 2])
    y_hat = invert(fe, S, length=fe.sr // 2)
    error = (fe(y_hat) - S).abs()
    assert error.mean() < 0.03 and torch.quantile(error, 0.99) < 0.15


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_gpu_unchanged():
    fe = make_frontend("zebra_finch").cuda()
    y = torch.from_numpy(bird_like(fe.sr)).cuda()
    S = fe(y)
    assert S.is_cuda
    assert invert(fe, S, n_iter=4).is_cuda
