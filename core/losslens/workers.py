"""Worker processes: heavy work runs in an interpreter of its own, never in a thread of the web server.

A JobSpec names the work: `target(progress, *args)`, a module-level function (pickled by name)
with picklable arguments, plus what the server does before it (a cache hit needs no worker) and
after it (a large result is opened from the cache, not sent back). A WorkerProcess runs one:

- a fresh interpreter (`python -c`, an exec, never a fork of the threaded server) whose
  environment is set before anything is imported: the threads of torch/OpenMP, BLAS and the
  tokenizers (worker_environment) and this checkout's losslens first on the path.
  (multiprocessing's "spawn" would first import the server's __main__, Streamlit and all it
  imports, into every worker, and could set the thread variables only after numpy had loaded.)
- in a session of its own, so `stop` reaches every process the work started;
- one socket pair to the server, pickled messages (multiprocessing.connection.Connection):
  server -> worker: (the server's sys.path, pickled (target, args));
  worker -> server: ("progress", done, total) any number of times, then ("outcome", WorkerOutcome).
- when the server goes away (crash, Ctrl-C, SIGKILL), the worker's end of the socket sees EOF
  and the worker kills its own process group: no orphan keeps computing.
"""
from __future__ import annotations

import os
import pickle
import resource
import signal
import site
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from losslens.errors import LossLensError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]   # the folder holding this losslens package


class WorkerDiedError(LossLensError):
    """A worker process that ended without sending its outcome: killed (out of memory?) or crashed."""


@dataclass(frozen=True)
class JobSpec:
    """Heavy work for a worker process.

    target: a module-level function, called in the worker as target(progress, *args) (pickled by
    name: never a lambda or a closure); args: picklable. Its return value comes back pickled, so
    it should be small: large results travel through the cache.
    cached: run in the server first, cached(*args) -> the job's result when the cache already
    holds it (then no worker starts and the job does not wait in line), else None.
    finish: run in the server after the worker, finish(value, *args) -> the job's result from the
    worker's return value (default: that value itself).
    """

    target: Callable[..., Any]
    args: tuple = ()
    cached: Callable[..., Any] | None = None
    finish: Callable[..., Any] | None = None

    def payload(self) -> bytes:
        """(target, args) pickled for the worker; TypeError for work that cannot travel."""
        try:
            return pickle.dumps((self.target, self.args), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(f"{getattr(self.target, '__qualname__', self.target)!r} cannot be sent to a worker process "
                            f"({exc}): give a module-level function and picklable arguments") from exc


class ExceptionState(NamedTuple):
    """A worker's exception as it travels to the server: its class by name, args and attributes."""

    module: str
    name: str
    args: tuple
    attributes: dict


@dataclass(frozen=True)
class WorkerOutcome:
    """What a worker sends last: its target's return value, or its failure and traceback text; and
    the CPU seconds the worker used (user + system, its own child processes included)."""

    value: Any = None
    failure: ExceptionState | None = None
    traceback: str = ""
    cpu_seconds: float = 0.0


def exception_state(exc: BaseException) -> ExceptionState:
    """`exc` as it can be pickled: its class named, args and attributes kept when they pickle, else its message."""
    cls = type(exc)
    state = ExceptionState(cls.__module__, cls.__qualname__, exc.args, dict(vars(exc)))
    try:
        pickle.dumps(state)
    except Exception:   # noqa: BLE001 — an argument or attribute that cannot travel: keep the message
        state = ExceptionState(cls.__module__, cls.__qualname__, (str(exc),), {})
    return state


def rebuild_exception(state: ExceptionState) -> BaseException:
    """The worker's exception in the server: the same class when the server has already imported
    its module (a LossLensError keeps its type, message and attributes; importing torch here to
    name a torch error would defeat the worker), else a RuntimeError "Name: message"."""
    cls = getattr(sys.modules.get(state.module), state.name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        exc = cls.__new__(cls, *state.args)
        exc.args = state.args
        exc.__dict__.update(state.attributes)
        return exc
    message = str(state.args[0]) if len(state.args) == 1 else ", ".join(map(str, state.args))
    return RuntimeError(f"{state.name}: {message}" if message else state.name)


def death_message(returncode: int) -> str:
    """One line for a worker that ended without an outcome, from its exit code (-N: signal N)."""
    if returncode == -signal.SIGKILL:
        return f"the job's process was killed (signal {signal.SIGKILL.value}): out of memory?"
    if returncode < 0:
        return f"the job's process was killed (signal {-returncode}, {signal.Signals(-returncode).name})"
    return f"the job's process exited with code {returncode} before it finished"


def worker_environment(threads: int) -> dict[str, str]:
    """The server's environment for a worker that computes on `threads` threads: torch/OpenMP, BLAS
    (OpenBLAS, MKL) and the tokenizers (Rust's rayon) sized before any of them loads, and this
    losslens package first on PYTHONPATH (unless it is installed in site-packages, which never goes
    before the standard library)."""
    environment = dict(os.environ)
    environment.update({name: str(threads) for name in THREAD_VARIABLES})
    environment["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    if str(PACKAGE_ROOT) not in site.getsitepackages():   # an installed losslens is found there anyway
        paths = [str(PACKAGE_ROOT), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environment


class WorkerProcess:
    """One worker process running one JobSpec's payload, seen from the server."""

    def __init__(self, threads: int) -> None:
        """Start the interpreter (it imports losslens, then waits for `send_work`)."""
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", f"from losslens.workers import serve; serve({theirs.fileno()})"],
                env=worker_environment(threads), pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                start_new_session=True)
        self._connection = Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self._process.pid

    def send_work(self, payload: bytes) -> None:
        """Hand the worker JobSpec.payload() (blocks until the worker reads it, once it has started)."""
        self._connection.send((list(sys.path), payload))

    def messages(self) -> Iterator[tuple]:
        """The worker's messages in order, up to its ("outcome", WorkerOutcome); ends early when the
        worker's socket closes (it died)."""
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                return
            yield message
            if message[0] == "outcome":
                return

    def stop(self, grace: float) -> None:
        """SIGTERM to the worker's process group now, SIGKILL `grace` seconds later (to what is left)."""
        self._signal(signal.SIGTERM)
        timer = threading.Timer(grace, self._signal, (signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def end(self, grace: float) -> int:
        """Wait up to `grace` s for the worker to exit (SIGKILL after), kill anything it left in its
        group, close the socket; the exit code (-N: killed by signal N)."""
        try:
            returncode = self._process.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            returncode = self._process.wait()
        self._signal(signal.SIGKILL)
        self._connection.close()
        return returncode

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self._process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass   # the group is gone already


def serve(fd: int) -> None:
    """The worker's main: receive the work on socket `fd`, run it with progress going to the
    server, send the outcome (see the module docstring)."""
    connection = Connection(fd)
    path, payload = connection.recv()
    sys.path.extend(entry for entry in path if entry not in sys.path)
    threading.Thread(target=_end_with_server, args=(connection,), name="losslens-lifeline", daemon=True).start()

    def progress(done: int, total: int) -> None:
        connection.send(("progress", int(done), int(total)))

    try:
        target, args = pickle.loads(payload)
        outcome = WorkerOutcome(value=target(progress, *args))
    except BaseException as exc:   # noqa: BLE001 — every failure goes to the server
        outcome = WorkerOutcome(failure=exception_state(exc), traceback=traceback.format_exc())
    try:
        connection.send(("outcome", replace(outcome, cpu_seconds=_cpu_seconds())))
    except Exception as exc:   # noqa: BLE001 — the return value would not pickle
        connection.send(("outcome", WorkerOutcome(failure=exception_state(exc), traceback=traceback.format_exc(),
                                                  cpu_seconds=_cpu_seconds())))


def _end_with_server(connection: Connection) -> None:
    """Block until the server's end of the socket closes (the server sends nothing after the work),
    then kill this worker's whole process group."""
    try:
        connection.recv()
    except (EOFError, OSError):
        pass
    os.killpg(os.getpid(), signal.SIGKILL)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
