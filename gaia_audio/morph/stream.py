"""Long series made a chunk of steps at a time, so that a continuum of 10 000 steps is never whole in memory.

A morph decodes, inverts and measures its steps :data:`STREAM_CHUNK` at a time
(:func:`gaia_audio.morph.finish.finish_series`). A series of up to one chunk is made at once, as
it always was. A longer one is *streamed*: its :class:`StepStream` makes the steps again each time
they are read through :meth:`StepStream.chunks`, and keeps none, which is how the export writes
them (:meth:`MorphResult.chunks`); its ``waveforms``, ``spectrograms`` and ``rows`` are
:class:`LazySteps`, which make every step once, and keep them, the first time one is read (the
plain list API, at the memory a list costs).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

#: Steps decoded, inverted and handed on together; a series longer than this is streamed.
STREAM_CHUNK = 64

Chunk = tuple[list[np.ndarray], list[np.ndarray]]  # (waveforms (n_k,), spectrograms (n_freq, T_k)) of some steps


class StepStream:
    """Makes a series' steps, a chunk at a time, as often as they are read.

    Args:
        make: a new generator of chunks each call, in step order; it fills in ``rows`` as it goes.
        rows: the manifest rows of every step (complete once ``make`` has run to its end).
    """

    def __init__(self, make: Callable[[], Iterator[Chunk]], rows: list[dict]):
        self.make, self.rows = make, rows
        self.kept: Chunk | None = None  # every step, once materialize() ran
        self.rows_complete = False

    def __len__(self) -> int:
        return len(self.rows)

    def chunks(self) -> Iterator[Chunk]:
        """Each chunk's (waveforms, spectrograms), made now (or sliced from what is kept)."""
        if self.kept is not None:
            for start in range(0, len(self), STREAM_CHUNK):
                yield self.kept[0][start:start + STREAM_CHUNK], self.kept[1][start:start + STREAM_CHUNK]
            return
        yield from self.make()
        self.rows_complete = True

    def materialize(self) -> Chunk:
        """Every step's waveform and spectrogram, made once and kept."""
        if self.kept is None:
            waveforms, spectrograms = [], []
            for chunk_waveforms, chunk_spectrograms in self.make():
                waveforms += chunk_waveforms
                spectrograms += chunk_spectrograms
            self.kept, self.rows_complete = (waveforms, spectrograms), True
        return self.kept


class LazySteps(Sequence):
    """A streamed series' ``waveforms``, ``spectrograms`` or ``rows``, made when first read.

    Its length is known without making anything. Rows are complete once the steps have been made
    (by reading them, or by going through :meth:`StepStream.chunks` to the end); reading one
    before that makes and keeps every step.

    Args:
        stream: the series' steps.
        which: "waveforms", "spectrograms" or "rows".
    """

    def __init__(self, stream: StepStream, which: str):
        if which not in ("waveforms", "spectrograms", "rows"):
            raise ValueError(f"unknown list '{which}'")
        self.stream, self.which = stream, which

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, index):
        if self.which == "rows":
            if not self.stream.rows_complete:
                self.stream.materialize()
            return self.stream.rows[index]
        return self.stream.materialize()[self.which == "spectrograms"][index]
