"""Phase reconstruction: STFT round trips, Fast Griffin-Lim, PGHI, the chain, metrics, mel -> linear."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gaia_audio import inversion
from gaia_audio.errors import ConfigError
from gaia_audio.inversion import low_band, sweeps
from gaia_audio.inversion.pghi import pghi
from gaia_audio.spectral.mel import mel_to_linear
from gaia_audio.spectral.metrics import log_spectral_distance_db, spectral_convergence_db
from gaia_audio.spectral.stft import istft, stft

STFTS = [(256, 64, 256), (256, 32, 200), (512, 128, 512), (1024, 44, 220)]  # the last: hop does not divide n_fft


def chirp(sr: int = 16000, seconds: float = 0.5, f0: float = 500.0, f1: float = 3000.0) -> np.ndarray:
    """A harmonic chirp with a smooth envelope, (n,) float32."""
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds))
    y = (np.sin(phase) + 0.5 * np.sin(2 * phase)) * np.sin(np.pi * t / seconds) ** 2
    return (0.5 * y).astype(np.float32)


def sc_of(y_hat: torch.Tensor, mag: torch.Tensor, n_fft: int, hop: int, win: int) -> float:
    return spectral_convergence_db(mag, stft(y_hat, n_fft, hop, win).abs())


@pytest.mark.parametrize("n_fft,hop,win", STFTS)
def test_istft_inverts_stft(n_fft, hop, win):
    y = torch.from_numpy(np.random.default_rng(0).normal(0, 0.3, (2, 4000)).astype(np.float32))
    X = stft(y, n_fft, hop, win)
    assert X.shape == (2, n_fft // 2 + 1, 1 + 4000 // hop)
    torch.testing.assert_close(istft(X, n_fft, hop, win, length=4000), y, atol=2e-5, rtol=0)


@pytest.mark.parametrize("n_fft,hop,win", [(256, 32, 256), (512, 64, 400)])
def test_pghi_phase_is_far_better_than_a_random_one(n_fft, hop, win):
    y = torch.from_numpy(chirp())
    mag = stft(y, n_fft, hop, win).abs()
    y_pghi = istft(torch.polar(mag, pghi(mag, n_fft, hop, win)), n_fft, hop, win, len(y))
    random = torch.rand(mag.shape, generator=torch.Generator().manual_seed(0)) * 2 * np.pi
    y_rand = istft(torch.polar(mag, random), n_fft, hop, win, len(y))
    # at redundancy 8 a correct PGHI alone reaches about -43 dB on this chirp (-35 leaves margin)
    assert sc_of(y_pghi, mag, n_fft, hop, win) < -35
    assert sc_of(y_pghi, mag, n_fft, hop, win) < sc_of(y_rand, mag, n_fft, hop, win) - 12


def test_pghi_gives_real_dc_and_nyquist_coefficients_and_handles_a_dc_offset():
    # a real signal's DC and Nyquist STFT coefficients are real; a DC offset under a chirp (common in
    # field recordings) must not spoil the phase PGHI finds
    rng = np.random.default_rng(0)
    y = torch.from_numpy(chirp() + 0.05 + rng.normal(0, 1e-3, 8000).astype(np.float32))
    mag = stft(y, 512, 64, 512).abs()
    phase = pghi(mag, 512, 64, 512)
    for edge in (phase[0], phase[-1]):
        assert torch.allclose(torch.sin(edge), torch.zeros_like(edge), atol=1e-6)
    y_pghi = istft(torch.polar(mag, phase), 512, 64, 512, len(y))
    assert sc_of(y_pghi, mag, 512, 64, 512) < -20


def test_pghi_treats_zeroed_bins_as_unknown():
    # a front end inverts only its band, zeros elsewhere: next to a zero the log-magnitude slope
    # is one-sided (a two-sided one across the 200 dB cliff gave -27.7 dB here)
    y = torch.from_numpy(chirp(f0=500, f1=3000))
    mag = stft(y, 512, 64, 512).abs()
    mag[torch.arange(mag.shape[0]) * 16000 / 512 < 1000] = 0
    y_pghi = istft(torch.polar(mag, pghi(mag, 512, 64, 512)), 512, 64, 512, len(y))
    assert sc_of(y_pghi, mag, 512, 64, 512) < -30

def test_pghi_stays_exact_on_a_long_recording():
    # the phase is integrated in float32, wrapped as it goes: a 40 s tone (12500 frames) must come
    # out as well as a short one, with every phase in [0, 2 pi]
    sr, seconds = 16000, 40.0
    t = np.arange(int(sr * seconds)) / sr
    y = torch.from_numpy((0.5 * np.sin(2 * np.pi * 1234.5 * t)
                          * np.minimum(1, np.minimum(t, seconds - t) / 0.05)).astype(np.float32))
    mag = stft(y, 512, 64, 512).abs()
    phase = pghi(mag, 512, 64, 512)
    assert phase.dtype == torch.float32 and float(phase.min()) >= 0 and float(phase.max()) <= 2 * np.pi
    head = slice(0, 200 * 64)
    short = stft(y[head], 512, 64, 512).abs()
    sc_short = sc_of(istft(torch.polar(short, pghi(short, 512, 64, 512)), 512, 64, 512, head.stop),
                     short, 512, 64, 512)
    sc_long = sc_of(istft(torch.polar(mag, phase), 512, 64, 512, len(y)), mag, 512, 64, 512)
    assert sc_long < -25 and sc_long < sc_short + 1


def test_pghi_keeps_the_kind_and_shape_and_survives_silence():
    mag = np.abs(np.random.default_rng(0).normal(size=(3, 129, 40)))
    phase = pghi(mag, 256, 64, 256)
    assert isinstance(phase, np.ndarray) and phase.shape == mag.shape
    phase_t = pghi(torch.from_numpy(mag).float(), 256, 64, 256)
    assert isinstance(phase_t, torch.Tensor) and phase_t.dtype == torch.float32 and phase_t.shape == mag.shape
    assert np.all(np.isfinite(pghi(np.zeros((129, 10)), 256, 64, 256)))
    y = inversion.reconstruct(torch.zeros(129, 10), 256, 64, 256)
    assert torch.all(y == 0)


def test_pghi_then_fgla_beats_fgla_from_zero_phase_on_a_chirp():
    y = torch.from_numpy(chirp())
    mag = stft(y, 256, 32, 256).abs()
    chained = inversion.reconstruct(mag, 256, 32, 256, method="pghi+fgla", n_iter=16, length=len(y))
    from_zero = sweeps.griffin_lim(mag, 256, 32, 256, n_iter=16, init_phase="zeros", length=len(y))
    assert sc_of(chained, mag, 256, 32, 256) < sc_of(from_zero, mag, 256, 32, 256) - 5


@pytest.mark.parametrize("method", inversion.METHODS)
def test_reconstruct_methods_give_the_requested_length(method):
    y = torch.from_numpy(chirp())
    mag = stft(y, 256, 64, 256).abs()
    out = inversion.reconstruct(mag[None].repeat(2, 1, 1), 256, 64, 256, method=method, n_iter=4, length=len(y) - 7)
    assert out.shape == (2, len(y) - 7) and torch.all(torch.isfinite(out))


def test_reconstruct_default_momentum_depends_on_the_start():
    # 0.99 (Perraudin et al.) from a random phase, a gentler 0.9 after PGHI's already-close phase,
    # 0.95 over cosets of frames (hop 32: 8-fold overlap, 2 cosets; hop 64: none)
    y = torch.from_numpy(chirp())
    for hop, method, alpha in ((32, "fgla", 0.99), (32, "pghi+fgla", 0.95), (64, "pghi+fgla", 0.9)):
        mag = stft(y, 256, hop, 256).abs()
        default = inversion.reconstruct(mag, 256, hop, 256, method=method, n_iter=4, length=len(y))
        explicit = inversion.reconstruct(mag, 256, hop, 256, method=method, n_iter=4, momentum=alpha, length=len(y))
        torch.testing.assert_close(default, explicit, atol=0, rtol=0)


@pytest.mark.parametrize("hop,win,cosets", [(32, 256, 2), (64, 256, 1), (44, 220, 1), (16, 256, 4), (64, 512, 2)])
def test_cosets_keep_at_least_4_fold_overlap(hop, win, cosets):
    assert inversion.coset_count(hop, win) == cosets

def test_reconstruct_rejects_bad_settings():
    mag = torch.ones(129, 8)
    with pytest.raises(ConfigError, match="unknown inversion method 'gla'"):
        inversion.reconstruct(mag, 256, 64, 256, method="gla")
    with pytest.raises(ConfigError, match="n_iter"):
        inversion.reconstruct(mag, 256, 64, 256, n_iter=-1)


def test_metrics_on_known_cases():
    rng = np.random.default_rng(0)
    mag = np.abs(rng.normal(size=(2, 65, 30))) + 0.1
    assert spectral_convergence_db(mag, mag) < -200
    assert spectral_convergence_db(mag, np.zeros_like(mag)) == pytest.approx(0.0, abs=1e-9)
    assert spectral_convergence_db(mag, 1.1 * mag) == pytest.approx(-20.0, abs=1e-6)
    assert log_spectral_distance_db(mag, mag) == pytest.approx(0.0)
    assert log_spectral_distance_db(torch.from_numpy(mag), torch.from_numpy(2 * mag)) == pytest.approx(
        20 * np.log10(2), abs=1e-6)


def test_mel_to_linear_is_exact_on_the_filterbank_range():
    import librosa

    basis = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=100, fmax=8000)
    rng = np.random.default_rng(0)
    S = rng.random((2, 257, 6)) ** 3  # non-negative spectra
    M = basis @ S
    S_hat = mel_to_linear(M, basis)
    assert S_hat.shape == S.shape and np.all(S_hat >= 0)
    np.testing.assert_allclose(basis @ S_hat, M, rtol=1e-6, atol=1e-9)
    assert mel_to_linear(M[0], basis).shape == (257, 6)


def rumble_under_chirp(sr: int = 32000, seconds: float = 1.0) -> np.ndarray:
    """Low-pass noise below 150 Hz (43% of the energy in bins 0-4 at n_fft 512), a DC offset and a
    chirp, like a field recording with wind rumble. (n,) float32."""
    import scipy.signal

    rng = np.random.default_rng(0)
    n = int(sr * seconds)
    rumble = scipy.signal.sosfilt(scipy.signal.butter(4, 150, "low", fs=sr, output="sos"), rng.normal(0, 1, n))
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * (2000 * t + 1500 * t ** 2)) * np.sin(np.pi * t / seconds) ** 2
    return (0.3 * rumble / np.abs(rumble).max() + tone + 0.02).astype(np.float32)


def test_reconstruct_resolves_the_sign_walls_of_a_strong_low_band():
    # PGHI then 16 FGLA iterations left the rumble's sign flipped in stretches (-24.3 dB); the
    # low band re-solved on a decimated STFT with its walls flipped away reaches -30.1 dB
    y = torch.from_numpy(rumble_under_chirp())
    mag = stft(y, 512, 64, 512).abs()
    plain = sweeps.griffin_lim(mag, 512, 64, 512, 16, 0.9, pghi(mag, 512, 64, 512), len(y))
    chained = inversion.reconstruct(mag, 512, 64, 512, length=len(y))
    assert sc_of(chained, mag, 512, 64, 512) < -28
    assert sc_of(chained, mag, 512, 64, 512) < sc_of(plain, mag, 512, 64, 512) - 4


def test_low_band_is_left_alone_without_rumble():
    y = torch.from_numpy(chirp(sr=32000))
    mag = stft(y, 512, 64, 512).abs()[None]
    assert low_band.solve_low_band(mag, pghi(mag, 512, 64, 512), 512, 64, 512) is None
