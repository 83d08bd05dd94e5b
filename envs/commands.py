"""What the commands share: argument checks and SIGTERM stopping a run as Ctrl-C does (``envs``), and the one
line a stopped, refused or failed run prints instead of a traceback (every package's commands)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from omegaconf.errors import MissingMandatoryValue

from .dataset_io import EpisodeFile, shard_path
from .output_lock import OutputLocked
from .workers import WorkerDied


def whole_number(name: str, value, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum``; anything else (``image_size=abc``, 3.5, True) is refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (sent by ``timeout`` and job schedulers) stops a run as Ctrl-C does: every finished demo lands
    in the output."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def shard_output(out: str, shard, num_shards) -> str:
    """The file a sharded command writes, for its reports (``out`` where the shard settings are not two ints:
    the command refuses those)."""
    return shard_path(out, shard, num_shards) if all(isinstance(n, int) for n in (shard, num_shards)) else out


def demos_in(path: str) -> int:
    """How many demos the (committed) file at ``path`` holds; 0 where there is none."""
    if not os.path.exists(path):
        return 0
    with EpisodeFile(path) as f:
        return len(f.demos)


# What a user can cause and fix (bad settings, a required setting not given, a file or folder in the way, a locked
# or full output, a killed worker): reported in one line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, OutputLocked, WorkerDied, MissingMandatoryValue)


# Set to 1 to see a refusal's traceback (where in the code it was raised) instead of its one line.
TRACEBACK_VARIABLE = "POSEAWARE_TRACEBACK"


@contextmanager
def one_line_errors() -> Iterator[None]:
    """For a command's ``main``: a refusal or failure a user can fix (``USER_ERRORS``) exits 1 with its message
    on one line instead of a traceback; ``POSEAWARE_TRACEBACK=1`` keeps the traceback."""
    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        print(f"error: {one_line(err)}", file=sys.stderr)
        sys.exit(1)


def one_line(err: BaseException) -> str:
    """A refusal's message on one line (a required setting not given is named with how to give it)."""
    if isinstance(err, MissingMandatoryValue):
        return f"{err.full_key} is required: give {err.full_key}=<value> on the command line"
    return " ".join(line.strip() for line in str(err).splitlines())


@contextmanager
def one_line_reports(output: Optional[str] = None) -> Iterator[None]:
    """``one_line_errors`` for the commands that write episode files: Ctrl-C or SIGTERM also exits 130 saying
    how many demos ``output`` kept (a run that writes no episode file passes None)."""
    try:
        with one_line_errors():
            yield
    except KeyboardInterrupt:
        if output is None:
            print("\nstopped; nothing was written", file=sys.stderr)
        else:
            print(f"\nstopped: kept {demos_in(output)} demos in {output}; run the same command again to finish",
                  file=sys.stderr)
        sys.exit(130)
