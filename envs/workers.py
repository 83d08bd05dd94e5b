"""Worker processes that each keep a simulator and make one demo at a time, for ``envs.generate``.

``multiprocessing.Pool`` waits forever for a job whose worker was killed (SIGKILL, the OOM killer);
``concurrent.futures.ProcessPoolExecutor`` notices, but cannot say which job died nor stop its other
workers before they finish their jobs (Python < 3.14). Here every worker has its own pipe and the parent
waits on the pipes and the processes together, so a death is seen at once and named by its job, and
stopping (Ctrl-C, SIGTERM, an error) ends every worker at once.
"""
from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import traceback
from multiprocessing.connection import Connection, wait
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple


class WorkerDied(RuntimeError):
    """A worker process ended while it was making a job (killed, out of memory, or crashed)."""


class WorkerFailed(RuntimeError):
    """The worker's traceback of a job that raised (the cause of the exception raised in the parent)."""


def _failure(err: Exception) -> tuple:
    """What a worker sends for a job that raised: the exception itself where it pickles, and its traceback."""
    text = traceback.format_exc()
    try:
        pickle.dumps(err)
    except Exception:
        err = WorkerFailed(text)
    return False, (err, text)


def _serve(conn: Connection, initializer: Callable, initargs: tuple, function: Callable) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the workers
    try:
        initializer(*initargs)
        started = None
    except Exception as err:  # reported with the first job, where the parent is listening
        started = _failure(err)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if started is not None:
            conn.send(started)
            continue
        try:
            result = True, function(job)
        except Exception as err:
            result = _failure(err)
        conn.send(result)


def how_it_ended(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}" + (", e.g. by the out-of-memory killer" if name == "SIGKILL" else "")
    return f"exited with code {exitcode}"


class WorkerPool:
    """``num_workers`` spawned processes, each set up by ``initializer(*initargs)`` and then running
    ``function(job)`` for one job at a time. Use as a context manager: leaving it ends every worker."""

    def __init__(self, num_workers: int, initializer: Callable, initargs: tuple, function: Callable) -> None:
        context = mp.get_context("spawn")  # simulators and GL contexts do not survive fork
        self.workers: List[Tuple[mp.Process, Connection]] = []
        try:
            for _ in range(num_workers):
                parent, child = context.Pipe()
                process = context.Process(target=_serve, args=(child, initializer, initargs, function), daemon=True)
                process.start()
                child.close()  # so the parent's end reads EOF once the worker is gone
                self.workers.append((process, parent))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def imap_unordered(self, jobs: Iterable, describe: Callable[[object], str] = repr) -> Iterator:
        """Results as they finish. A dead worker raises ``WorkerDied`` naming ``describe(job)``; a job that
        raised raises its exception here, caused by a ``WorkerFailed`` that holds the worker's traceback."""
        pending = list(jobs)
        busy: Dict[Connection, Tuple[mp.Process, object]] = {}
        idle = list(self.workers)
        while pending or busy:
            while pending and idle:
                process, conn = idle.pop()
                job = pending.pop(0)
                busy[conn] = (process, job)
                try:
                    conn.send(job)
                except OSError:  # it died while idle
                    raise self._died(process, describe(job)) from None
            ready = wait(list(busy) + [process.sentinel for process, _ in busy.values()])
            for conn, (process, job) in list(busy.items()):
                if conn not in ready and process.sentinel not in ready:
                    continue
                try:
                    ok, result = conn.recv()
                except (EOFError, OSError):
                    raise self._died(process, describe(job)) from None
                if not ok:
                    err, text = result
                    raise err from WorkerFailed(f"making {describe(job)} in a worker:\n{text}")
                del busy[conn]
                idle.append((process, conn))
                yield result

    @staticmethod
    def _died(process: mp.Process, job: str) -> BaseException:
        """``WorkerDied`` naming ``job``; a worker ended by SIGTERM or SIGINT is a stop asked of the whole process
        group (a scheduler, ``kill -- -PGID``, Ctrl-C), so the run stops as the parent's own signal stops it."""
        process.join(5)
        if process.exitcode in (-signal.SIGTERM, -signal.SIGINT):
            return KeyboardInterrupt()
        return WorkerDied(f"the worker making {job} died ({how_it_ended(process.exitcode)})")

    def close(self) -> None:
        """End every worker now (a job in progress is dropped)."""
        for process, conn in self.workers:
            if process.is_alive():
                process.terminate()
            conn.close()
        for process, _ in self.workers:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        self.workers = []
