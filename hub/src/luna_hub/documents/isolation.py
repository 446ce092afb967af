"""Parsing untrusted files in a child process under a memory and time budget, killed on cancel.

A thread cannot be stopped: a PDF or DOCX that takes minutes or gigabytes in a worker thread holds
the hub until it is done, through SIGTERM. A child process can: :func:`run_isolated` forks one from
a ``forkserver`` (never the threaded hub itself), caps its address space with ``RLIMIT_AS``, waits
for its answer on a pipe without blocking the event loop, and kills it when the budget runs out or
the awaiting task is cancelled (a job of a stopping hub). The child leads a process group of its
own, so a program it runs (Tesseract for OCR) shares its memory cap and dies with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, Final, TypeVar

import msgspec

from luna_hub.documents.errors import CorruptDocumentError, DocumentRejectedError, DocumentTooLargeError

__all__ = ["Budget", "run_isolated", "warm_up"]

T = TypeVar("T")
_CONTEXT: Final = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["luna_hub.documents.extract"])  # each child forks with the parsers loaded


def warm_up() -> None:
    """Start the forkserver now (it imports the parsers before it forks its first child).

    Otherwise the first upload's ``Process.start`` waits for that on the event loop: 1.9 s measured.
    Started with SIGINT ignored (inherited through exec): a Ctrl-C to the terminal's process group
    while it imports would print its traceback; the forkserver ignores SIGINT itself only after
    that, and its children (parsers, the embedder) are ended by the hub. Outside the main thread,
    where signal handlers cannot be set, the first upload starts it.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        return
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """What one parse may take: address space and wall time."""

    memory_bytes: int
    seconds: float
    nice: int = 0
    """Added to the child's niceness (lower CPU priority than the hub's)."""


async def run_isolated(
    function: Callable[..., T],
    *args: object,
    budget: Budget,
    progress: Callable[[int, int], None] | None = None,
) -> T:
    """Return ``function(*args)`` (``progress=`` a relay when given) computed in a child process under ``budget``.

    A :class:`DocumentRejectedError` of the child is raised here; running out of memory or time is a
    :class:`DocumentTooLargeError` naming the budget; a child that dies otherwise is a :class:`CorruptDocumentError`.
    """
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_child,
        args=(sending, budget.memory_bytes, budget.nice, function, args, progress is not None),
        name="luna-extract",
        daemon=True,
    )
    process.start()
    sending.close()
    try:
        async with asyncio.timeout(budget.seconds):
            kind, value = await _answer(receiving, progress)
    except TimeoutError:
        msg = f"parsing took longer than documents.extract_timeout_s ({budget.seconds:g} s)"
        raise DocumentTooLargeError(msg) from None
    finally:
        if process.pid is not None:  # its group: a program it started (OCR) goes too; till reaped, no other has the id
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        process.kill()  # a no-op once it has exited; then reaped at once, so joining does not hold the loop
        process.join()
        receiving.close()
    if kind == "ok":
        result: T = value
        return result
    if kind == "rejected":
        raise value
    if kind == "memory":
        msg = f"parsing needs more memory than documents.extract_memory_bytes ({budget.memory_bytes} bytes)"
        raise DocumentTooLargeError(msg)
    msg = f"the file cannot be parsed: {value}"
    raise CorruptDocumentError(msg)


async def _answer(receiving: Connection, progress: Callable[[int, int], None] | None) -> tuple[str, Any]:
    """Wait for the child's answer (relaying progress) without blocking the loop; EOF means it died."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(receiving.fileno(), readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            while receiving.poll():
                try:
                    message: tuple[str, Any] = receiving.recv()
                except EOFError:
                    return "died", "the parsing process ended without an answer (killed for memory?)"
                if message[0] != "progress":
                    return message
                if progress is not None:
                    progress(*message[1])
    finally:
        loop.remove_reader(receiving.fileno())


def _child(  # noqa: PLR0913, PLR0917 - a process target: its arguments come positionally
    sending: Connection,
    memory_bytes: int,
    nice: int,
    function: Callable[..., Any],
    args: tuple[object, ...],
    relay_progress: bool,
) -> None:
    """Run in the child: lead a process group, cap memory, yield CPU, call, send one answer (progress first)."""
    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if nice:
        os.nice(nice)

    def progress(done: int, total: int) -> None:
        sending.send(("progress", (done, total)))

    answer: tuple[str, Any]
    try:
        result = function(*args, progress=progress) if relay_progress else function(*args)
        answer = ("ok", result)
    except DocumentRejectedError as exc:
        answer = ("rejected", exc)
    except MemoryError:
        answer = ("memory", None)
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the parent learns of it
        answer = ("error", f"{type(exc).__name__}: {exc}")
    try:
        sending.send(answer)  # pickled whole before a byte is written: a MemoryError leaves the pipe clean
    except MemoryError:
        with contextlib.suppress(MemoryError):
            sending.send(("memory", None))
    sending.close()
