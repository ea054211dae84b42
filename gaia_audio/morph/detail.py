"""Detail transfer: what the tuned decoder still misses of each endpoint, added back along the continuum.

Tuning (:mod:`gaia_audio.morph.tune`) brings the decoded ends close to the recordings, but two
things keep them apart: the decoder's remaining error, and the tile itself, which squeezes a unit
of any length into ``n_frames`` frames (a 290 ms syllable loses its sharp onsets and fast sweeps
to it, whatever the model). High-fidelity GAN inversion keeps such a *residual* and adds it back
when it edits a photo (HFGI, Wang et al. 2022, "High-Fidelity GAN Inversion for Image Attribute
Editing"); here the residual of each endpoint is taken on its own time grid:

    R_a = S_a − untile(G(z_a), T_a)        (n_freq, T_a), in the front end's [0, 1] scale

and a step at α gets ``(1 − α)·R_a + α·R_b``, each stretched to the step's own frame count, on top
of its decoded spectrogram (clipped to [0, 1]). At α = 0 and 1 the step's spectrogram is then the
recording's, so the ends are the recordings up to phase reconstruction; between them the residuals
fade linearly, at the same rate as the duration does. The decoder still makes every middle: the
residuals are what remains after tuning (fine time structure and the noise floor, mostly), not
the sounds themselves, so a middle is not a cross-fade of the two.
``gaia_audio.morph.tune.TuneSettings.detail`` turns it off; an untuned morph never adds it.
"""
from __future__ import annotations

import numpy as np
import torch

from gaia_audio.spectral.frontend import stretch


def stretch_residual(R: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_freq, n_frames) of a signed (n_freq, T) residual, resized in time as tiles are
    (``spectral.frontend.stretch``: linear, antialiased when shrinking; it is affine-invariant,
    so the residual is mapped from [−1, 1] to [0, 1] and back around it)."""
    x = torch.as_tensor((np.asarray(R, np.float32) + 1.0) / 2.0)[None]
    return stretch(x, int(n_frames))[0].numpy() * 2.0 - 1.0


def residual(S: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """The (n_freq, T) signed residual of a recording's spectrogram ``S`` against its decoded copy
    ``decoded`` (n_freq, T'), resized to ``S``'s frames first where they differ."""
    S = np.asarray(S, np.float32)
    if decoded.shape[1] != S.shape[1]:
        decoded = stretch(torch.as_tensor(decoded, dtype=torch.float32)[None], S.shape[1])[0].numpy()
    return S - decoded


def weights(alpha: float) -> tuple[float, float]:
    """(w_a, w_b) of the two residuals at ``alpha``: 1 − α and α inside [0, 1], held at the nearer
    end's (1 at that end, 0 at the other) beyond it."""
    alpha = min(max(float(alpha), 0.0), 1.0)
    return 1.0 - alpha, alpha


def add_detail(S: np.ndarray, alpha: float, R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """A step's (n_freq, T) [0, 1] spectrogram with both endpoints' residuals added at ``alpha``.

    Args:
        S: the step's decoded spectrogram at its own frame count T.
        alpha: the step's position (0: endpoint a, 1: endpoint b).
        R_a, R_b: the endpoints' residuals (:func:`residual`), each on its own time grid.
    Returns:
        (n_freq, T) float32 in [0, 1].
    """
    w_a, w_b = weights(alpha)
    out = np.asarray(S, np.float32).copy()
    for w, R in ((w_a, R_a), (w_b, R_b)):
        if w > 0:
            out += w * stretch_residual(R, S.shape[1])
    return np.clip(out, 0.0, 1.0)
