"""Audio I/O and level handling: plain functions of ``(y, sr)``.

``y`` is float32, shape ``(n,)`` for mono or ``(channels, n)`` for multichannel audio, with
full scale at ±1. Every user mistake (missing, empty, corrupt or unusable file) raises
:class:`~gaia_audio.errors.AudioError` whose message is one line naming the file.
"""
from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from gaia_audio.errors import AudioError
from gaia_audio.io.files import atomic_write

#: Extensions that libsndfile reads (soundfile); MP3 needs libsndfile >= 1.1.
SOUNDFILE_EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".au", ".w64", ".rf64",
                        ".caf", ".mp3"}
#: Extensions that only a system decoder (ffmpeg, GStreamer, Core Audio via audioread) reads.
DECODER_EXTENSIONS = {".mp3", ".m4a", ".aac", ".mp4", ".wma", ".opus", ".webm"}
#: Subtypes that :func:`save` writes.
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
_INTEGER_SUBTYPES = {"PCM_16", "PCM_24"}
_FORMATS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".aif": "AIFF",
            ".aiff": "AIFF", ".w64": "W64", ".rf64": "RF64"}


def load(path: str | os.PathLike, sr: int | None = None, mono: bool = True,
         channel: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 samples in [-1, 1].

    WAV/FLAC/OGG (and MP3 with libsndfile >= 1.1) of any bit depth are read through soundfile;
    other compressed formats through librosa/audioread when a system decoder is present (librosa
    is imported only then: it costs about a second).

    Args:
        path: the audio file.
        sr: resample to this rate (:func:`resample`: soxr, HQ); None keeps the file's rate.
        mono: True mixes all channels down to one by averaging; False keeps them.
        channel: pick this channel (0-based) instead of mixing; overrides the mix-down.

    Returns:
        (y, sr): y is (n,) when mono or a channel is chosen, else (channels, n); sr is the rate of y.

    Raises:
        AudioError: missing, empty or unreadable file, unsupported format, zero samples,
            NaN/Inf samples, or channel out of range.
    """
    path = check_input_file(path)
    y, file_sr = _read(path)  # (channels, n)
    if y.shape[1] == 0:
        raise AudioError("no audio samples in file (0 frames)", path)
    if not np.all(np.isfinite(y)):
        raise AudioError("file holds NaN or Inf samples", path)
    if channel is not None or mono:
        y, _ = to_mono(y, channel, path)
        y = y if mono else y[None]
    if sr is not None:
        if int(sr) <= 0:
            raise AudioError(f"target sample rate must be positive, got {sr}", path)
        y = resample(y, file_sr, int(sr))
        file_sr = int(sr)
    return np.ascontiguousarray(y, dtype=np.float32), int(file_sr)


def to_mono(y: np.ndarray, channel: int | None = None,
            name: str | os.PathLike = "input") -> tuple[np.ndarray, str | None]:
    """One channel of ``y``: the chosen ``channel``, or the mean of all channels.

    Args:
        y: (n,) or (channels, n) samples.
        channel: pick this channel (0-based; negative counts from the last) instead of mixing down.
        name: the input's name or path, for errors and the note.
    Returns:
        ((n,) samples, a note saying what was done, or None when y was already mono).
    Raises:
        AudioError: ``channel`` does not exist (a mono input has channel 0 only).
    """
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise AudioError(f"expected samples of shape (n,) or (channels, n), got {y.shape}", name)
    n_channels = 1 if y.ndim == 1 else y.shape[0]
    if channel is not None and not -n_channels <= channel < n_channels:  # mono too: --channel 5 is a mistake
        raise AudioError(f"channel {channel} out of range: the input has {n_channels} channel(s), numbered from 0",
                         name)
    if n_channels == 1:
        return y.reshape(-1), None
    if channel is None:
        return y.mean(axis=0), f"{y.shape[0]} channels mixed down to mono (pick one with --channel)"
    return y[channel % y.shape[0]], f"channel {channel % y.shape[0]} of {y.shape[0]} used"


def check_input_file(path: str | os.PathLike) -> Path:
    """Refuse what is not a regular, non-empty file before anything opens it.

    A FIFO would block the reader forever, a device never ends, and a symlink loop raises deep
    inside the reader; each is one error naming the path.

    Returns:
        ``path`` as a Path.
    Raises:
        AudioError: missing, a symlink loop, a folder, not a regular file, or empty.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError("file not found", path) from None
    except OSError as err:  # ELOOP, EACCES, ENAMETOOLONG, ...
        why = "a symbolic link that loops" if err.errno == errno.ELOOP else os.strerror(err.errno or 0).lower()
        raise AudioError(f"cannot open: {why}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError("is a folder, not an audio file", path)
    if not stat.S_ISREG(info.st_mode):
        raise AudioError("not a regular file (a FIFO, device or socket): give an audio file", path)
    if info.st_size == 0:
        raise AudioError("empty file (0 bytes)", path)
    return path


def check_duration(paths: list[str | os.PathLike], max_seconds: float) -> None:
    """Refuse an input longer than ``max_seconds`` from its header, before its samples are read.

    Files whose header soundfile cannot read are left to the check after loading.

    Raises:
        AudioError: naming the first input that is too long.
    """
    for path in paths:
        try:
            info = sf.info(str(path))
        except (RuntimeError, OSError, TypeError, ValueError):
            continue
        check_length(info.frames, info.samplerate, max_seconds, path)


def check_length(n: int, sr: int, max_seconds: float, name: str | os.PathLike) -> None:
    """Refuse ``n`` samples at ``sr`` that last longer than a morph takes (``max_seconds``).

    Raises:
        AudioError: naming ``name``, the duration and what to do instead.
    """
    if int(sr) > 0 and n / int(sr) > max_seconds:
        raise AudioError(f"{n / int(sr):.1f} s long, more than the {max_seconds:g} s a morph takes: cut it into units "
                         "first (gaia-audio prepare ... --source) or morph an excerpt", name)


def check_channel(paths: list[str | os.PathLike], channel: int | None) -> None:
    """Refuse a ``channel`` that none of the input files has, reading their headers only.

    A command that picks one channel of its multichannel inputs (``morph --channel``) uses a mono
    input as it is; a channel that no input has is a mistake (``--channel 5`` on mono files).
    A file whose header soundfile cannot read (missing, compressed) is left to :func:`load`.

    Raises:
        AudioError: naming the first input.
    """
    for path in paths:
        check_input_file(path)
    if channel is None or not paths:
        return
    counts = []
    for path in paths:
        try:
            counts.append(sf.info(str(path)).channels)
        except (RuntimeError, OSError, TypeError, ValueError):  # LibsndfileError is a RuntimeError
            return
    if not any(-n <= channel < n for n in counts):
        raise AudioError(f"channel {channel} out of range: the input has {counts[0]} channel(s), numbered from 0",
                         paths[0])


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file into ((channels, n) float32, sr), choosing soundfile or audioread."""
    ext = path.suffix.lower()
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)  # (n, channels)
        _check_riff_complete(path)
        return data.T, int(sr)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        sf_problem = " ".join(str(err).split())
    with open(path, "rb") as fh:
        head = fh.read(12)
    if ext not in SOUNDFILE_EXTENSIONS | DECODER_EXTENSIONS:
        raise AudioError(f"unsupported audio format '{ext or path.name}' (use WAV, FLAC, OGG or MP3)", path)
    if ext in DECODER_EXTENSIONS and not (ext == ".mp3" and "MP3" in sf.available_formats()):
        return _read_with_decoder(path)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM"):
        raise AudioError(f"unreadable or truncated audio file ({sf_problem})", path)
    raise AudioError(f"not a valid {ext[1:].upper()} file: unreadable or corrupt ({sf_problem})", path)


def _check_riff_complete(path: Path) -> None:
    """Raise if a RIFF/WAV file's data chunk is shorter than its header declares (a cut-off copy).

    libsndfile reads such files without complaint, silently returning fewer samples.
    """
    with open(path, "rb") as fh:
        if fh.read(4) != b"RIFF":
            return
        fh.seek(12)
        size = path.stat().st_size
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return
            chunk_id, chunk_size = header[:4], int.from_bytes(header[4:], "little")
            if chunk_id == b"data":
                present = size - fh.tell()
                if chunk_size not in (0, 0xFFFFFFFF) and present < chunk_size:
                    raise AudioError(f"truncated WAV file: header declares {chunk_size} bytes of audio, "
                                     f"only {present} present", path)
                return
            fh.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def _read_with_decoder(path: Path) -> tuple[np.ndarray, int]:
    """Decode a compressed file (MP3, M4A, ...) through librosa and audioread."""
    import librosa  # slow to import; only this fallback needs it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns that it falls back to audioread
            y, sr = librosa.load(path, sr=None, mono=False)
    except Exception as err:  # audioread raises NoBackendError or decoder-specific errors
        name = type(err).__name__
        if name == "NoBackendError":
            raise AudioError("no decoder for this format on this machine (install ffmpeg, or convert to WAV/FLAC)",
                             path) from None
        raise AudioError(f"unreadable or corrupt audio file ({name}: {' '.join(str(err).split())})", path) from None
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    return y, int(sr)


def save(path: str | os.PathLike, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write audio atomically (:func:`gaia_audio.io.files.atomic_write`).

    For the integer subtypes, samples beyond full scale are clipped to [-1, 1] before writing,
    silently and by design (normalize first if clipping must not happen); FLOAT writes the
    values as they are. The format follows the extension (.wav, .flac, .ogg, ...); OGG is
    always Vorbis, FLAC takes PCM_16/PCM_24 only.

    Args:
        path: destination file; its folder is created if missing.
        y: samples, (n,) or (channels, n).
        sr: sample rate in Hz.
        subtype: "PCM_16", "PCM_24" or "FLOAT".

    Returns:
        The path written.

    Raises:
        AudioError: NaN/Inf or empty samples, bad subtype/format, or the write failed.
    """
    path = Path(path)
    if subtype not in SUBTYPES:
        raise AudioError(f"unsupported subtype '{subtype}' (use one of {', '.join(SUBTYPES)})", path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(f"cannot write format '{path.suffix or path.name}' (use .wav, .flac or .ogg)", path)
    file_subtype = "VORBIS" if fmt == "OGG" else subtype
    if not sf.check_format(fmt, file_subtype):
        raise AudioError(f"{fmt} cannot hold subtype {subtype}", path)
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise AudioError(f"expected samples of shape (n,) or (channels, n) with n > 0, got {y.shape}", path)
    if not np.all(np.isfinite(y)):
        raise AudioError("refusing to write NaN or Inf samples", path)
    if int(sr) <= 0:
        raise AudioError(f"sample rate must be positive, got {sr}", path)
    data = y.astype(np.float32 if subtype == "FLOAT" else np.float64)
    if subtype in _INTEGER_SUBTYPES or fmt == "OGG":
        data = np.clip(data, -1.0, 1.0)
    data = data.T if data.ndim == 2 else data  # soundfile wants (n, channels)
    try:
        with atomic_write(path, suffix=".tmp" + path.suffix, error=AudioError) as tmp:
            sf.write(tmp, data, int(sr), subtype=file_subtype, format=fmt)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"could not write audio ({' '.join(str(err).split())})", path) from None
    return path


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Change the sample rate with soxr at HQ quality.

    The same resampler as ``librosa.resample(res_type="soxr_hq")``, called directly so that a
    morph does not pay for importing librosa; the output is identical, length included.

    Args:
        y: samples, (n,) or (channels, n).
        orig_sr: rate of y in Hz.
        target_sr: wanted rate in Hz.

    Returns:
        float32 samples, (..., ceil(n * target_sr / orig_sr)).
    """
    y = np.asarray(y, dtype=np.float32)
    if int(orig_sr) == int(target_sr):
        return y.copy()
    if int(orig_sr) <= 0 or int(target_sr) <= 0:
        raise AudioError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if not np.all(np.isfinite(y)):
        raise AudioError("cannot resample NaN or Inf samples")
    y_hat = soxr.resample(y.T, int(orig_sr), int(target_sr), quality="HQ").T  # soxr takes (n, channels)
    n_out = int(np.ceil(y.shape[-1] * int(target_sr) / int(orig_sr)))  # librosa's length: pad or trim to it
    out = np.zeros(y.shape[:-1] + (n_out,), dtype=np.float32)
    n_copy = min(n_out, y_hat.shape[-1])
    out[..., :n_copy] = y_hat[..., :n_copy]
    return out


def rms_db(y: np.ndarray) -> float:
    """RMS level in dBFS (full-scale sine = -3.01 dB; silence = -inf).

    Args:
        y: samples, any shape.

    Returns:
        20 log10 of the root-mean-square of all samples.
    """
    y = _nonempty(y)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def peak_db(y: np.ndarray) -> float:
    """Peak level in dBFS (full scale = 0 dB; silence = -inf).

    Args:
        y: samples, any shape.

    Returns:
        20 log10 of the largest absolute sample.
    """
    peak = float(np.max(np.abs(_nonempty(y))))
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def apply_ramps(y: np.ndarray, sr: int, ramp_ms: float = 5.0) -> np.ndarray:
    """Fade in and out with raised-cosine ramps, so a stimulus starts and ends without a click.

    Args:
        y: samples, (n,) or (channels, n).
        sr: sample rate in Hz.
        ramp_ms: length of each ramp; capped at half the signal.

    Returns:
        float32 samples, same shape; the first and last sample are 0 when ramp_ms > 0.
    """
    y = np.array(y, dtype=np.float32)
    n_ramp = min(int(round(ramp_ms * sr / 1000.0)), y.shape[-1] // 2)
    if n_ramp <= 0:
        return y
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(n_ramp) / n_ramp)).astype(np.float32)  # 0 -> ~1
    y[..., :n_ramp] *= ramp
    y[..., -n_ramp:] *= ramp[::-1]
    return y


def pad_silence(y: np.ndarray, sr: int, before_ms: float = 0.0, after_ms: float = 0.0) -> np.ndarray:
    """Add digital silence before and after the signal.

    Args:
        y: samples, (n,) or (channels, n).
        sr: sample rate in Hz.
        before_ms: silence to prepend.
        after_ms: silence to append.

    Returns:
        float32 samples, (..., n + round(before_ms sr/1000) + round(after_ms sr/1000)).
    """
    if before_ms < 0 or after_ms < 0:
        raise AudioError(f"padding must be >= 0 ms, got before_ms={before_ms}, after_ms={after_ms}")
    y = np.asarray(y, dtype=np.float32)
    widths = [(0, 0)] * (y.ndim - 1) + [(int(round(before_ms * sr / 1000)), int(round(after_ms * sr / 1000)))]
    return np.pad(y, widths)


def pyloudnorm_module():
    """Import pyloudnorm lazily, with a clear error when it is not installed."""
    try:
        import pyloudnorm
    except ImportError:
        raise AudioError("LUFS loudness needs the optional package pyloudnorm: "
                         "pip install 'gaia-audio[loudness]'") from None
    return pyloudnorm


def _nonempty(y: np.ndarray) -> np.ndarray:
    """Check that y holds at least one sample."""
    y = np.asarray(y)
    if y.size == 0:
        raise AudioError("empty signal (0 samples)")
    return y
