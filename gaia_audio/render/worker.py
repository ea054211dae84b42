"""A child process that draws figures while the command computes, and never outlives it.

Importing matplotlib takes about 0.6 s and importing torch about 1.5 s, both mostly
single-threaded: ``gaia-audio morph`` starts a :class:`Worker` before it imports torch, so the two
imports run side by side on two cores, and hands continuum.png to it at the end.

The child must never outlive the command nor write after it: it is killed when its parent dies,
however the parent dies (the kernel's PR_SET_PDEATHSIG on Linux, a thread polling the parent's
pid elsewhere), so that it cannot hold a wrapping script's stdout open; a failed or interrupted
command kills it (:meth:`Worker.abort`) before removing its temporary folder, so that a figure
being drawn is never written into a folder that was removed.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from gaia_audio.errors import GaiaError

#: prctl(2) option: the signal the kernel sends this process when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def _preload(parent: int) -> None:
    """A :class:`Worker` child's start: die with ``parent``, leave signals to it, import what drawing needs.

    Ctrl-C reaches the whole process group: the child ignores it and the parent decides. A forked
    child inherits the parent's Python handlers (:mod:`gaia_audio.io.signals`); SIGTERM and SIGHUP
    get their default action back, so a scheduler's SIGTERM to the group ends the child at once.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    _die_with(parent)
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def _die_with(parent: int) -> None:
    """End this process when ``parent`` dies, however it dies (SIGKILL included), so that a child
    never outlives the command holding its stdout open: the kernel's PR_SET_PDEATHSIG on Linux
    (one ctypes call; python-prctl would add a C build for it), elsewhere a thread polling the
    parent's pid."""
    if sys.platform.startswith("linux"):
        try:
            if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the call
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class Worker:
    """One child process that draws figures, with matplotlib imported while the parent works.

    Importing matplotlib takes about 0.6 s and importing torch about 1.5 s, both mostly
    single-threaded; a command that starts a Worker *before* importing torch (``gaia-audio
    morph``) has the two imports run side by side on two cores, then hands the drawing over with
    :meth:`run`. The child is forked where the platform allows (cheap, and nothing heavy is
    loaded yet), spawned elsewhere. If the child cannot be started or dies, :meth:`run` draws in
    this process instead, so a figure is never lost to the worker.

    Use as a context manager (the child exits on leaving it)::

        with Worker() as worker:
            import torch  # meanwhile the child imports matplotlib
            ...
            worker.run(continuum_strip, strips, path, sr)
    """

    def __init__(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        sys.stdout.flush()  # a forked child must not inherit (and later repeat) buffered output
        sys.stderr.flush()
        self._aborted = False
        try:
            self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(1, mp_context=context, initializer=_preload,
                                                                         initargs=(os.getpid(),))
            self._pool.submit(int)  # start the child now, not at the first run()
        except (OSError, RuntimeError):  # no processes to be had: draw in this process
            self._pool = None

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` in the child (arguments and result are pickled between the
        two processes); its exceptions are raised here. In this process when the child died on its
        own; never after :meth:`abort` (a GaiaError then: nothing more is drawn)."""
        if self._pool is not None:
            try:
                return self._pool.submit(func, *args, **kwargs).result()
            except BrokenProcessPool:
                self.close()
        if self._aborted:
            raise GaiaError("not drawn: the drawing process was stopped")
        return func(*args, **kwargs)

    def close(self) -> None:
        """Stop the child (waits for it to exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Kill the child now, whatever it is drawing, and wait until it is gone.

        For a command that failed or was interrupted: the figure is not wanted, and a child left
        drawing would write it into a folder the parent is removing (or keep stdout open).
        """
        self._aborted = True
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        kill_workers = getattr(pool, "kill_workers", None)  # Python 3.14+
        if kill_workers is not None:
            kill_workers()
        else:  # the pool's own list of its processes (a private attribute until 3.14)
            processes = list((getattr(pool, "_processes", None) or {}).values())
            for process in processes:
                process.kill()
            for process in processes:
                process.join()
        pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        self.abort() if exc_type is not None else self.close()
