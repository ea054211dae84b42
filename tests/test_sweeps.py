"""Fast Griffin-Lim: the grouped STFT pair against torch's, the projection step, iterations, the GPU path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_inversion import STFTS, chirp, sc_of

from gaia_audio import inversion
from gaia_audio.inversion import sweeps as fgla
from gaia_audio.inversion.pghi import pghi
from gaia_audio.inversion.reference import plain_griffin_lim
from gaia_audio.io import audio
from gaia_audio.spectral.stft import istft, stft


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("n_fft,hop,win", STFTS)
@pytest.mark.parametrize("cpu", [True, False], ids=["numba", "torch"])
def test_sweep_frames_match_torch_stft_and_istft(n_fft, hop, win, groups, cpu):
    y = torch.from_numpy(np.random.default_rng(1).normal(0, 0.3, (2, 3000)).astype(np.float32))
    X = stft(y, n_fft, hop, win)  # (B, F, T)
    sweep = fgla.Sweep(n_fft, hop, win, X.shape[-1], 3000, groups, 2, y.device, y.dtype)
    sweep.cpu = cpu  # False: the unfold / fold path a CUDA tensor takes
    buf = sweep.synthesise(sweep.split(X.transpose(1, 2)))
    torch.testing.assert_close(sweep.signal(buf), y, atol=2e-5, rtol=0)  # the buffer holds ISTFT(X) = y
    Z = sweep.join([sweep.analyse(buf, g).clone() for g in range(sweep.groups)])
    torch.testing.assert_close(Z, X.transpose(1, 2), atol=1e-4, rtol=1e-5)
    # adding a change of one group's coefficients gives the ISTFT of the changed STFT
    gen = torch.Generator().manual_seed(0)
    changed = torch.polar(X.abs(), torch.rand(X.shape, generator=gen) * 6.28).transpose(1, 2).contiguous()
    parts = sweep.split(X.transpose(1, 2))
    target = [p.clone() for p in parts]
    target[-1] = sweep.split(changed)[-1]
    sweep.add(target[-1] - parts[-1], buf, sweep.groups - 1)
    expected = istft(sweep.join(target).transpose(1, 2), n_fft, hop, win, length=3000)
    torch.testing.assert_close(sweep.signal(buf), expected, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("n_fft,hop,win,stride,offset", [(256, 64, 256, 2, 0), (256, 64, 256, 2, 1),
                                                         (256, 32, 200, 2, 1), (256, 32, 200, 3, 2)])
@pytest.mark.parametrize("cpu", [True, False], ids=["numba", "torch"])
def test_sweep_over_a_coset_is_the_stft_of_every_stride_th_frame(n_fft, hop, win, stride, offset, cpu):
    y = torch.from_numpy(np.random.default_rng(2).normal(0, 0.3, (2, 3000)).astype(np.float32))
    X = stft(y, n_fft, hop, win).transpose(1, 2)[:, offset::stride]  # (B, T_c, F): the coset's frames
    sweep = fgla.Sweep(n_fft, hop, win, 1 + 3000 // hop, 3000, 2, 2, y.device, y.dtype, stride=stride, offset=offset)
    sweep.cpu = cpu
    assert sweep.n_time == X.shape[1]
    # the coset still overlaps (here at least 2-fold): its own ISTFT gives the signal back
    buf = sweep.synthesise(sweep.split(X))
    torch.testing.assert_close(sweep.signal(buf), y, atol=2e-5, rtol=0)
    torch.testing.assert_close(sweep.join([sweep.analyse(buf, g).clone() for g in range(2)]), X, atol=1e-4, rtol=1e-5)
    # a change added to one group is what synthesising the changed coefficients gives
    parts = sweep.split(X)
    target = [parts[0] * 0.5, parts[1]]
    sweep.add(target[0] - parts[0], buf, 0)
    torch.testing.assert_close(buf, sweep.synthesise(target), atol=2e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="offset"):
        fgla.Sweep(n_fft, hop, win, 10, 3000, 2, 2, y.device, y.dtype, stride=2, offset=2)


def test_state_from_a_buffer_starts_from_its_stft_without_resynthesis():
    y = torch.from_numpy(chirp()[None])
    X = stft(y, 256, 32, 256).transpose(1, 2)  # (1, T, F)
    full = fgla.Sweep(256, 32, 256, X.shape[1], y.shape[-1], 4, 1, y.device, y.dtype)
    coset = fgla.Sweep(256, 32, 256, X.shape[1], y.shape[-1], 2, 1, y.device, y.dtype, stride=2, offset=1)
    buf = full.synthesise(full.split(X))
    state = fgla.State(coset, X.abs()[:, 1::2], buf=buf)
    torch.testing.assert_close(coset.join(state.t), X[:, 1::2], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(state.buf, buf) and torch.testing.assert_close(state.buf_prev, buf)
    assert state.buf is not buf  # a copy: the other sweep's buffer is left alone
    with pytest.raises(ValueError, match="exactly one"):
        fgla.State(coset, X.abs()[:, 1::2])


def test_fused_step_equals_plain_torch_step():
    gen = torch.Generator().manual_seed(0)
    Z = torch.randn(2, 7, 9, dtype=torch.complex64, generator=gen)
    mag = torch.rand(2, 7, 9, generator=gen)
    t = torch.randn(2, 7, 9, dtype=torch.complex64, generator=gen)
    t_prev = torch.randn(2, 7, 9, dtype=torch.complex64, generator=gen)
    state_a, state_b = (t.clone(), t_prev.clone()), (t.clone(), t_prev.clone())
    fused = fgla.project_step(Z.clone(), mag, *state_a, 0.9)  # numba path (contiguous CPU)
    T = lambda x: x.transpose(1, 2)  # noqa: E731 - non-contiguous views take the torch path
    plain = fgla.project_step(T(Z.clone()), T(mag), T(state_b[0]), T(state_b[1]), 0.9)
    torch.testing.assert_close(fused, T(plain), atol=1e-5, rtol=1e-5)
    expected_new = Z * (mag / Z.abs())
    torch.testing.assert_close(fused, expected_new - (t + 0.9 * (t - t_prev)), atol=1e-5, rtol=1e-5)
    for a, b, want in zip(state_a, state_b, (expected_new, t)):  # t <- the projection, t_prev <- t
        torch.testing.assert_close(a, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(b, want, atol=1e-5, rtol=1e-5)


def test_griffin_lim_shapes_batching_and_length():
    y = torch.from_numpy(np.stack([chirp(), chirp(f0=800, f1=2000)]))
    mag = stft(y, 256, 64, 256).abs()
    out = fgla.griffin_lim(mag, 256, 64, 256, n_iter=3)
    assert out.shape == (2, (mag.shape[-1] - 1) * 64)
    single = fgla.griffin_lim(mag[1].numpy(), 256, 64, 256, n_iter=3, length=y.shape[-1])
    assert single.shape == (y.shape[-1],)
    again = fgla.griffin_lim(mag, 256, 64, 256, n_iter=3)
    torch.testing.assert_close(out, again)  # the random start is seeded


def test_griffin_lim_improves_with_iterations_and_keeps_a_true_phase():
    y = torch.from_numpy(chirp())
    X = stft(y, 256, 32, 256)
    mag = X.abs()
    few = sc_of(fgla.griffin_lim(mag, 256, 32, 256, n_iter=2, length=len(y)), mag, 256, 32, 256)
    many = sc_of(fgla.griffin_lim(mag, 256, 32, 256, n_iter=40, length=len(y)), mag, 256, 32, 256)
    assert many < few - 3
    exact = fgla.griffin_lim(mag, 256, 32, 256, n_iter=5, init_phase=X.angle(), length=len(y))
    torch.testing.assert_close(exact, y, atol=1e-4, rtol=0)


def test_the_torch_path_used_on_gpus_gives_the_same_result(monkeypatch):
    y = torch.from_numpy(np.stack([chirp(), chirp(f0=900, f1=1500)]))
    mag = stft(y, 256, 32, 256).abs()
    fast = inversion.reconstruct(mag, 256, 32, 256, n_iter=6, length=y.shape[-1])
    original_init = fgla.Sweep.__init__

    def torch_only(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.cpu = False  # what a CUDA tensor gets: unfold / fold, plain torch ops

    monkeypatch.setattr(fgla.Sweep, "__init__", torch_only)
    plain = inversion.reconstruct(mag, 256, 32, 256, n_iter=6, length=y.shape[-1])
    torch.testing.assert_close(plain, fast, atol=2e-4, rtol=0)


def test_grouped_sweeps_converge_faster_than_plain_fgla():
    # the same FFT work per iteration; group by group (Gauss-Seidel) each group sees the others' update
    # (a noise floor, where FGLA is slow: 0.6 dB better after 8 iterations)
    y = torch.from_numpy(chirp() + np.random.default_rng(0).normal(0, 0.01, 8000).astype(np.float32))
    mag = stft(y, 256, 32, 256).abs()
    phase = pghi(mag, 256, 32, 256)
    sc = {g: sc_of(fgla.griffin_lim(mag, 256, 32, 256, 8, 0.9, phase, len(y), groups=g), mag, 256, 32, 256)
          for g in (1, 4)}
    assert sc[4] < sc[1] - 0.3
    few_frames = fgla.griffin_lim(mag[:, :3], 256, 32, 256, 4, 0.9, phase[:, :3], groups=8)  # groups > frames
    assert few_frames.shape == (2 * 32,) and torch.all(torch.isfinite(few_frames))


def test_cosets_converge_faster_than_sweeps_over_all_frames(real_songs):
    # 8-fold overlap (the zebra_finch STFT): two 4-fold cosets solved in turn, then 2 sweeps over
    # all frames, for the FFT work of as many sweeps over all frames: 1.3 dB better on this second
    # of a real song (0.2-1.5 dB on others)
    y = torch.from_numpy(audio.load(real_songs[0], sr=22050)[0][:22050])
    mag = stft(y, 256, 32, 256).abs()
    phase = pghi(mag, 256, 32, 256)
    sc = {c: sc_of(fgla.griffin_lim(mag, 256, 32, 256, 12, 0.95, phase, len(y), groups=4, cosets=c), mag, 256, 32, 256)
          for c in (1, 2)}
    assert sc[2] < sc[1] - 0.8
    y = torch.from_numpy(chirp())
    mag = stft(y, 256, 32, 256).abs()
    phase = pghi(mag, 256, 32, 256)
    # no more iterations than the closing sweeps: no cosets at all
    for n_iter in (0, fgla.CLOSING_SWEEPS):
        with_cosets = fgla.griffin_lim(mag, 256, 32, 256, n_iter, 0.95, phase, len(y), groups=4, cosets=2)
        without = fgla.griffin_lim(mag, 256, 32, 256, n_iter, 0.95, phase, len(y), groups=4)
        torch.testing.assert_close(with_cosets, without, atol=0, rtol=0)
    few_frames = fgla.griffin_lim(mag[:, :3], 256, 32, 256, 6, 0.9, phase[:, :3], groups=4, cosets=8)  # cosets > frames
    assert few_frames.shape == (2 * 32,) and torch.all(torch.isfinite(few_frames))


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_the_fast_griffin_lim_computes_the_plain_one(momentum):
    # one group, one coset: the sweeps run exactly the iterations of inversion/reference.py
    y = torch.from_numpy(chirp()[None])
    mag = stft(y, 256, 32, 256).abs()
    phase = torch.rand(mag.shape, generator=torch.Generator().manual_seed(0)) * 2 * np.pi
    for n_iter in (0, 1, 6):
        plain = plain_griffin_lim(mag, phase, 256, 32, 256, n_iter, momentum, length=y.shape[-1])
        fast = fgla.griffin_lim(mag, 256, 32, 256, n_iter, momentum, phase, y.shape[-1])
        torch.testing.assert_close(fast, plain, atol=1e-4, rtol=0)
