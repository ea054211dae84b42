"""Prepare spoken words at 16 kHz wideband: Asterisk's studio prompts, cut into words.

Debian packs the Asterisk core prompts as G.722 (16 kHz wideband) in
``asterisk-core-sounds-LANG-g722``: one professional voice per language, ~550 prompts each
(English and Spanish: Allison Smith; French: June Wallack). This fetches one language's package
with ``apt-get download`` (or reads an unpacked copy, ``--source``), decodes every prompt with the
``G722`` package (ITU-T G.722 at 64 kbit/s; ``pip install 'gaia-audio[asterisk]'``), and cuts
them into words as ``gaia-audio prepare speech`` does (speech_16k segmentation: 100 Hz
high-pass, pauses of 50 ms or more, units of 55 ms to 1 s). The shipped speech model trains
on English (``manifest_train.csv``); French is a speaker it never heard.

    gaia-audio prepare asterisk --out data/asterisk_en
    gaia-audio prepare asterisk --language fr --out data/asterisk_fr

Writes ``<out>/raw/`` (the package and the decoded prompts), ``<out>/units/*.wav``, the split
manifests and, last of all, ``<out>/manifest.csv``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from gaia_audio.data.examples import OneLineArgumentParser  # noqa: E402
from gaia_audio.errors import DataError, GaiaError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests

#: language code → the voice's folder inside the package (usr/share/asterisk/sounds/...)
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
SR = 16000  # G.722's wideband rate
BIT_RATE = 64000  # the packages' G.722 mode


def decode_g722(data: bytes) -> np.ndarray:
    """(n,) float32 samples at 16 kHz of a raw G.722 (64 kbit/s) byte string.

    Raises:
        DataError: the G722 package is not installed.
    """
    try:
        import G722
    except ImportError:
        raise DataError("decoding G.722 needs the G722 package: pip install 'gaia-audio[asterisk]'") from None
    pcm = np.asarray(G722.G722(SR, BIT_RATE).decode(data), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def fetch_package(language: str, raw: Path) -> Path:
    """``apt-get download`` the language's G.722 package into ``raw`` and unpack it; returns the voice folder."""
    package = f"asterisk-core-sounds-{language}-g722"
    raw.mkdir(parents=True, exist_ok=True)
    if not list(raw.glob(f"{package}_*.deb")):
        if shutil.which("apt-get") is None:
            raise DataError(f"apt-get is not available to fetch {package}: unpack it yourself and pass --source", raw)
        done = subprocess.run(["apt-get", "download", package], cwd=raw, capture_output=True, text=True)
        if done.returncode != 0:
            raise DataError(f"apt-get download {package} failed: {done.stderr.strip().splitlines()[-1:]}", raw)
    deb = sorted(raw.glob(f"{package}_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(raw / "extracted")], check=True)
    return raw / "extracted" / "usr" / "share" / "asterisk" / "sounds" / VOICES[language]


def decode_all(source: Path, wav_dir: Path) -> Path:
    """Decode every ``*.g722`` prompt under ``source`` (but its silence/ folder) into 16-bit WAVs under ``wav_dir``."""
    prompts = [p for p in sorted(source.rglob("*.g722")) if "silence" not in p.relative_to(source).parts]
    if not prompts:
        raise DataError("no .g722 prompts found", source)
    for path in prompts:
        target = wav_dir / path.relative_to(source).with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        audio.save(target, decode_g722(path.read_bytes()), SR)
    return wav_dir


def prepare(out, language: str = "en", source=None) -> Path:
    """Build the dataset in ``out``; returns the path of its manifest.csv.

    Args:
        out: dataset folder.
        language: one of :data:`VOICES`.
        source: a folder holding the unpacked ``.g722`` prompts; None fetches the Debian package.
    """
    from gaia_audio.data.examples import speech

    if language not in VOICES:
        raise DataError(f"unknown language {language!r} (one of {', '.join(VOICES)})")
    out = Path(out)
    raw = out / "raw"
    source = fetch_package(language, raw) if source is None else Path(source)
    wavs = decode_all(source, raw / "wav")
    return speech.prepare(out, wavs, sr=SR, annotations=False)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry: parse options, prepare, print a summary; user errors print one line."""
    parser = OneLineArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     epilog="example: gaia-audio prepare asterisk --out data/asterisk_en")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--language", default="en", choices=sorted(VOICES), help="prompt language (default en)")
    parser.add_argument("--source", type=Path, help="folder of unpacked .g722 prompts (default: apt-get download)")
    args = parser.parse_args(argv)
    try:
        manifest = prepare(args.out, args.language, args.source)
        print(manifests.manifest_summary(manifest))
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
