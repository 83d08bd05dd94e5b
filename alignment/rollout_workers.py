"""Test rollouts of several views side by side, one process per view (``rollout_workers=N``).

A rollout's cost is mostly the simulator's renders, on one core, so views (camera bins) scored in separate
processes put free cores to work. Each worker loads the policy from its file and runs ``run_rollouts`` for
one view exactly as the single process does (the same seeds and cameras, the same torch thread count: the
same episodes, for a deterministic policy such as robomimic's BC; a GMM head samples from torch's generator,
which each worker starts afresh); its progress comes back after every episode, so the caller saves it and an
interrupted call resumes each view at its next episode. Workers are spawned (not forked), so none inherits
the parent's GL context or torch thread pool; one whose parent is killed stops within a second.
"""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import queue as queue_module
import threading
import time
from dataclasses import asdict
from typing import Callable, Dict, Optional, Sequence

import torch

from .rollout import RolloutResult

ProgressFn = Callable[[str, RolloutResult], None]
_worker: dict = {}  # a worker's queue back to the parent


def _start_worker(progress, parent: int, threads: int) -> None:
    torch.set_num_threads(threads)
    progress.cancel_join_thread()  # reports the parent no longer reads (its views ended) never hold up an exit
    _worker.update(progress=progress)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int, every: float = 1.0) -> None:
    """A worker whose parent is gone (killed outright: it could not stop its workers) ends within ``every``
    seconds rather than rolling out for nobody; the process ends at once (an exception would only end a task)."""
    while os.getppid() == parent:
        time.sleep(every)
    print("rollout worker: the process that started it is gone; stopping", flush=True)
    os._exit(1)


def _report(view: str, result: RolloutResult) -> None:
    _worker["progress"].put((view, asdict(result)))


def _view_in_worker(policy_path: str, view: str, done: Optional[dict], kwargs: dict) -> dict:
    from .bc import load_bc
    from .rollout import run_rollouts

    policy, _ = load_bc(policy_path)
    result = run_rollouts(policy, view=view, done=RolloutResult(**done) if done else None,
                          after_episode=lambda r: _report(view, r), **kwargs)
    return asdict(result)


def rollouts_in_workers(policy_path: str, views: Sequence[str], workers: int, done: Dict[str, RolloutResult],
                        on_progress: ProgressFn, threads: int = 1, **kwargs) -> Dict[str, RolloutResult]:
    """``run_rollouts(policy, view=v, **kwargs)`` for each of ``views`` in up to ``workers`` processes, the
    policy loaded from ``policy_path`` in each with ``threads`` torch threads; ``done[v]``: an interrupted
    view's episodes, continued. ``on_progress(view, result)`` is called in this process after every episode
    of a view still running. Returns every view's result."""
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()
    finished: Dict[str, RolloutResult] = {}

    def drain() -> None:
        while True:
            try:
                view, result = progress.get_nowait()
            except queue_module.Empty:
                return
            if view not in finished:  # a late report of a view already returned is older than its result
                on_progress(view, RolloutResult(**result))

    with futures.ProcessPoolExecutor(min(workers, len(views)), mp_context=context, initializer=_start_worker,
                                     initargs=(progress, os.getpid(), threads)) as pool:
        running = {pool.submit(_view_in_worker, policy_path, view, asdict(done[view]) if view in done else None,
                               kwargs): view for view in views}
        try:
            while running:
                ended, _ = futures.wait(running, timeout=1.0, return_when=futures.FIRST_COMPLETED)
                drain()
                for future in ended:
                    finished[running.pop(future)] = RolloutResult(**future.result())
        except futures.process.BrokenProcessPool:
            raise RuntimeError(f"a rollout worker died (killed, or out of memory) while scoring "
                               f"{', '.join(running.values())}; the episodes finished so far are saved: run the "
                               f"same command again to continue, or with fewer rollout_workers") from None
        except BaseException:  # a worker's error, or Ctrl-C: the other views stop too (they resume later)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            raise
    return {view: finished[view] for view in views}
