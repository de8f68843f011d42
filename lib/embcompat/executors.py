"""Where independent tasks run: this machine's process pool (the default) or a Ray cluster.

One interface, two back-ends (:func:`get_executor`):

* ``local`` (:class:`LocalExecutor`): ``workers`` spawned processes on this machine, each with
  :func:`worker_threads` torch threads; ``workers=1`` runs every task in this process.
* ``ray`` (:class:`RayExecutor`): tasks of one CPU each on a Ray cluster (``address=None`` starts
  a private one on this machine, ``"auto"`` joins the one ``ray start`` runs here, ``"HOST:PORT"``
  a remote head), torch threads set to 1 in the task. Ray is imported only here, only when asked:
  the local default needs no Ray (``pip install -e .[ray]`` adds it).

:meth:`Executor.map` yields ``(item, result)`` pairs as tasks finish, with one tqdm bar. A task's
function and its items are pickled to the worker and its result back, so tasks should *return*
what they produce (nothing on a worker's disk is seen by the caller on a cluster without a shared
filesystem). A failing task raises :class:`RuntimeError` naming it; the others are cancelled.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import socket
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["EXECUTORS", "RAY_INSTALL_HINT", "Executor", "default_workers", "LocalExecutor", "RayExecutor",
           "get_executor", "import_ray", "worker_threads"]

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = "pip install -e .[ray]"


def default_workers(device: str = "auto") -> int:
    """Local worker processes: one per CPU core, or 1 on a GPU (one device)."""
    from embcompat.utils import resolve_device

    if resolve_device(device).type != "cpu":
        return 1
    return max(1, os.cpu_count() or 1)


def worker_threads(workers: int) -> int:
    """Torch threads per local worker: the CPU cores shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _call(fn: Callable, item: Any, threads: int | None = None) -> Any:
    if threads is not None:
        _set_threads(threads)
    return fn(item)


class Executor:
    """Runs ``fn(item)`` for many items; subclasses say where. A context manager (``close``)."""

    kind = ""
    in_process = False  # True: tasks run in this process, one after the other

    def map(self, fn: Callable[[Any], Any], items: Iterable, *, label: Callable[[Any], str] = str,
            desc: str = "tasks", unit: str = "task", progress: bool = True) -> Iterator[tuple]:
        """Yield ``(item, fn(item))`` for every item, in the order the tasks finish.

        Args:
            fn: a module-level function (pickled by reference to the workers).
            items: its arguments, one task each (pickled to the workers).
            label: names an item in the progress bar and in errors.
            desc, unit, progress: the tqdm bar.

        Raises:
            RuntimeError: naming the failed item, from the task's exception.
        """
        items = list(items)
        with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
            for item, result in self._run(fn, items, label):
                bar.set_postfix_str(label(item))
                bar.update(1)
                yield item, result

    def _run(self, fn, items, label) -> Iterator[tuple]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor started (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    def describe(self) -> str:
        return self.kind


class LocalExecutor(Executor):
    """``workers`` spawned processes on this machine (``workers=1``: this process), each with
    ``threads`` torch threads (default :func:`worker_threads`; the in-process case keeps its own).

    Workers are *spawned* (fresh interpreters, never a fork of a process holding torch threads):
    from a notebook that just works; from a script, call under ``if __name__ == "__main__":``.
    """

    kind = "local"

    def __init__(self, workers: int = 1, *, threads: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self.workers = workers
        self.in_process = workers == 1
        self.threads = worker_threads(workers) if threads is None else threads

    def describe(self) -> str:
        return f"local, {self.workers} worker{'s' if self.workers > 1 else ''}"

    def _run(self, fn, items, label):
        if self.in_process or len(items) <= 1:
            for item in items:
                try:
                    result = fn(item)
                except Exception as e:
                    raise RuntimeError(f"task {label(item)} failed: {e}") from e
                yield item, result
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(items)), mp_context=ctx,
                                 initializer=_set_threads,
                                 initargs=(self.threads,)) as pool:
            futures = {pool.submit(fn, item): item for item in items}
            for fut in as_completed(futures):
                item = futures[fut]
                try:
                    result = fut.result()
                except Exception as e:
                    for other in futures:
                        other.cancel()
                    hint = ""
                    if isinstance(e, BrokenProcessPool):
                        hint = (" (a worker died: out of memory, killed, or a script that starts "
                                "workers without an `if __name__ == \"__main__\":` guard)")
                    raise RuntimeError(f"task {label(item)} failed: {e}{hint}") from e
                yield item, result


def import_ray():
    """``import ray``, or an :class:`ImportError` that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(f"the ray executor needs Ray, which is not installed: run "
                          f"`{RAY_INSTALL_HINT}` (the optional extra pins its version)") from e
    return ray


def _package_dir() -> str:
    """This ``embcompat`` package's folder (shipped to a cluster's workers)."""
    return os.path.dirname(os.path.abspath(__file__))


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"Ray address must be None, 'auto' or 'HOST:PORT', got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"cannot reach a Ray head at {address} ({e}); start one there "
                              f"with `ray start --head --port {port}`, or check the host and "
                              "port") from e


class RayExecutor(Executor):
    """Tasks of one CPU each on a Ray cluster (see the module docstring for ``address``).

    ``address=None`` always starts a private cluster here (``ray.init(address="local")``), never
    one that ``ray start`` left running (``"auto"`` joins that). On a cluster it joins, the
    workers import this driver's ``embcompat`` (shipped as a Ray ``py_modules`` runtime env;
    ``ship_code=False`` uses what the nodes have installed). A Ray session this process already
    has (``ray.is_initialized()``) is reused and left running; one the executor started ends with
    :meth:`close`. ``max_in_flight`` caps the tasks submitted at once (default: no cap, Ray
    queues them by free CPUs); ``init_kwargs`` go to ``ray.init``.
    """

    kind = "ray"

    def __init__(self, address: str | None = None, *, max_in_flight: int | None = None,
                 threads: int = 1, ship_code: bool = True, **init_kwargs) -> None:
        if max_in_flight is not None and (isinstance(max_in_flight, bool)
                                          or not isinstance(max_in_flight, int)
                                          or max_in_flight < 1):
            raise ValueError(f"max_in_flight must be None or >= 1, got {max_in_flight!r}")
        ray = import_ray()
        self.address, self.max_in_flight, self.threads = address, max_in_flight, threads
        self._owned = False
        if not ray.is_initialized():
            if address not in (None, "auto"):
                _check_reachable(address)
            if address is None:
                init_kwargs.setdefault("include_dashboard", False)
            elif ship_code:
                init_kwargs.setdefault("runtime_env", {"py_modules": [_package_dir()]})
            try:
                ray.init(address=address or "local", log_to_driver=False, **init_kwargs)
            except ConnectionError as e:
                raise ConnectionError(
                    f"could not connect to Ray at address={address!r}: {e} (`ray start --head` "
                    "starts a cluster; address=None starts a private one on this machine; a "
                    "cluster with token authentication, Ray's default, also needs "
                    "RAY_AUTH_MODE=token here and its token in ~/.ray/auth_token)") from e
            self._owned = True
        self._task = ray.remote(num_cpus=1, max_retries=0)(_call)

    def describe(self) -> str:
        return f"ray, address={self.address!r}"

    def _run(self, fn, items, label):
        import ray

        todo = list(enumerate(items))[::-1]
        pending: dict = {}
        cap = self.max_in_flight or len(items)
        fn_ref = ray.put(fn)
        try:
            while todo or pending:
                while todo and len(pending) < cap:
                    i, item = todo.pop()
                    pending[self._task.remote(fn_ref, item, self.threads)] = item
                done, _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except Exception as e:
                    raise RuntimeError(f"task {label(item)} failed on Ray: {e}") from e
                yield item, result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False


def get_executor(kind: str = "local", *, workers: int | None = None,
                 address: str | None = None, **ray_init) -> Executor:
    """The executor named ``kind``.

    Args:
        kind: ``local`` (the default) or ``ray``.
        workers: local processes (default 1: this process); with ``ray``, an optional cap on the
            tasks in flight (default: as many as the cluster has CPUs for).
        address: ``ray`` only: None (a private cluster here), ``"auto"`` or ``"HOST:PORT"``.
        ray_init: further ``ray.init`` arguments (``ray`` only; e.g. ``num_cpus``).

    Raises:
        ValueError: an unknown kind, bad ``workers``, or ``address`` without ``kind="ray"``.
        ImportError: ``ray`` without Ray installed (says ``pip install -e .[ray]``).
        ConnectionError: an unreachable Ray address.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if kind == "local":
        if address is not None or ray_init:
            raise ValueError("address and Ray options need executor='ray' "
                             f"(got address={address!r} with the local executor)")
        return LocalExecutor(1 if workers is None else workers)
    return RayExecutor(address, max_in_flight=workers, **ray_init)
