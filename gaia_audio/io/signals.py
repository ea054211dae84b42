"""SIGINT, SIGTERM and SIGHUP end a command through its ``finally`` blocks, and a finished output stays finished.

Python turns Ctrl-C (SIGINT) into ``KeyboardInterrupt``, so every ``finally`` and ``except
BaseException`` on the way out runs: temporary files and folders are removed, child processes
stopped. SIGTERM (what a scheduler, ``timeout`` or ``kill`` sends) and SIGHUP (a closed terminal)
would kill the process on the spot and leave all of that behind. While a command runs under
:func:`handled`, they raise :class:`Terminated` instead, a ``KeyboardInterrupt`` that carries the
signal's number, so they clean up the same way; the CLI then prints one line and exits
128 + the number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).

Once a command has put its output in place (:func:`output_complete`, right after the final
rename) a signal no longer raises: the command finishes and exits 0. :func:`deferred` holds
signals over a few statements that must run together (renaming a folder into place and saying
so). A second signal during the cleanup of the first is ignored for :data:`GRACE_S` seconds so
that the cleanup completes. Outside :func:`handled` (the library used from a program) nothing
here changes how signals behave.
"""
from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import time
from collections.abc import Iterator

#: The signals a command turns into a clean exit.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds after the first signal during which a repeated one is ignored (its cleanup is running).
GRACE_S = 5.0


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's ``KeyboardInterrupt`` so that cleanup runs.

    Args:
        signum: the signal's number.
    """

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = int(signum)


class _State:
    """What the handlers of one :func:`handled` block know."""

    def __init__(self) -> None:
        self.holding = 0           # depth of deferred() blocks
        self.pending: int | None = None  # a signal held by deferred() or noted after the output was complete
        self.complete = False      # the output is in place: signals no longer raise
        self.raised_at: float | None = None


_state: _State | None = None
_ignore_at_exit_registered = False


def _exception(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _handle(signum: int, frame) -> None:
    """The handler :func:`handled` installs: raise, hold, or note the signal."""
    state = _state
    if state is None:  # a handler left behind by a thread's bookkeeping: behave as Python would
        raise _exception(signum)
    if state.complete or state.holding:
        state.pending = state.pending or signum
        return
    if state.raised_at is not None and time.monotonic() - state.raised_at < GRACE_S:
        return  # the first signal's cleanup is running: let it finish
    state.raised_at = time.monotonic()
    raise _exception(signum)


@contextlib.contextmanager
def handled(signums: tuple[int, ...] = SIGNALS) -> Iterator[None]:
    """Within the block, SIGINT raises ``KeyboardInterrupt`` and SIGTERM/SIGHUP raise :class:`Terminated`.

    The previous handlers are put back at the end. A signal the process was started to ignore
    (``nohup``, a background job) stays ignored. Outside the main thread (where Python runs no
    signal handlers) the block changes nothing.
    """
    global _state
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer, state = _state, _State()
    previous = {}
    for signum in signums:
        old = signal.getsignal(signum)
        if old == signal.SIG_IGN:
            continue
        previous[signum] = signal.SIG_DFL if old is None else old
    _state = state
    try:
        for signum in previous:
            signal.signal(signum, _handle)
        yield
    finally:
        if state.complete:  # the interpreter's own exit must not turn a late signal into a failure
            _ignore_at_exit()
        for signum, old in previous.items():
            signal.signal(signum, old)
        _state = outer


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold signals until the block ends; one that came meanwhile is raised then (unless the
    block completed the output, see :func:`output_complete`). Outside :func:`handled`: no effect."""
    state = _state
    if state is None:
        yield
        return
    state.holding += 1
    try:
        yield
    finally:
        state.holding -= 1
    if not state.holding and state.pending is not None and not state.complete:
        signum, state.pending = state.pending, None
        state.raised_at = time.monotonic()
        raise _exception(signum)


def output_complete() -> None:
    """Say that the command's output is in place: from now on a signal is noted, not raised."""
    if _state is not None:
        _state.complete = True


def received() -> int | None:
    """The signal noted after :func:`output_complete` (or held by :func:`deferred`), if any."""
    return None if _state is None else _state.pending


def exit_code(err: KeyboardInterrupt) -> int:
    """The exit status for an interruption: 128 + the signal's number (130 for a plain KeyboardInterrupt)."""
    return 128 + getattr(err, "signum", int(signal.SIGINT))


def describe(err: KeyboardInterrupt) -> str:
    """One line for an interruption: "interrupted" (Ctrl-C) or "terminated by SIGTERM"."""
    return str(err) if isinstance(err, Terminated) else "interrupted"


def _ignore_at_exit() -> None:
    """Ignore :data:`SIGNALS` while the interpreter shuts down (registered once, with atexit)."""
    global _ignore_at_exit_registered
    if not _ignore_at_exit_registered:
        _ignore_at_exit_registered = True
        atexit.register(_ignore_signals)


def _ignore_signals() -> None:
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
