"""Blocking readers (a decoder reading a pipe, a FIFO, a file) run off the event loop.

Each runs in a daemon thread of its own rather than in the loop's executor: a read that never
returns (a pipe whose writer stalls, a FIFO nobody opens) must not hold up the loop's shutdown
or the interpreter's exit, which join executor threads. Ctrl-C then ends the command at once,
leaving the reader blocked in a thread that dies with the process. A reader that makes no
progress for :data:`STALL_WARNING` seconds is logged, once per stall, so a stalled input is
never a silent hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import itertools
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

logger = logging.getLogger("speechkit")

T = TypeVar("T")

STALL_WARNING = 10.0
"""Seconds an input may go without yielding anything before a warning says it is still awaited."""

_DEPTH = 50  # batches read ahead of the consumer at most (5 frames each: 5 s of 20 ms frames)


class _Waiter:
    """Awaits a loop event, logging once when it takes longer than ``warn_after`` seconds."""

    def __init__(self, name: str | None, warn_after: float | None) -> None:
        self.name, self.warn_after = name, warn_after

    async def wait(self, event: asyncio.Event | asyncio.Future[Any]) -> None:
        waiting = event.wait() if isinstance(event, asyncio.Event) else asyncio.shield(event)
        if self.warn_after is None or self.name is None:
            await waiting
            return
        task = asyncio.ensure_future(waiting)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.warn_after)
            if not done:
                logger.warning(
                    "%s: no input for %g s; still waiting for it (end the input, or press Ctrl-C)",
                    self.name,
                    self.warn_after,
                    extra={"input": self.name},
                )
            await task
        finally:
            task.cancel()


def _notify(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(callback)


async def call(
    fn: Callable[[], T], *, name: str | None = None, warn_after: float | None = STALL_WARNING
) -> T:
    """``fn()`` in a daemon thread (opening a FIFO or probing a pipe may block for good).

    Args:
        fn: The blocking call; what it raises is raised here.
        name: The input's name for the stall warning; None: no warning.
        warn_after: Seconds before the warning; None: no warning.

    Returns:
        What ``fn`` returns. Cancelling the await abandons the thread (and its result).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        def settle(result: Any, error: BaseException | None) -> None:
            if done.done():  # the caller was cancelled
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        try:
            result = fn()
        except BaseException as e:
            _notify(loop, functools.partial(settle, None, e))
        else:
            _notify(loop, functools.partial(settle, result, None))

    threading.Thread(target=work, name="speechkit-input", daemon=True).start()
    await _Waiter(name, warn_after).wait(done)
    return done.result()


async def in_thread(
    items: Iterator[T], batch: int = 5, *, name: str | None = None, warn_after: float | None = STALL_WARNING
) -> AsyncIterator[T]:
    """Iterate a blocking iterator (a decoder reading a pipe) in a daemon thread.

    The thread reads ahead at most a bounded number of batches (memory stays bounded however
    slowly the items are consumed), and stops when the consumer does.

    Args:
        items: The blocking iterator; its exceptions are raised here.
        batch: Items fetched per thread hop (5 frames: 100 ms of audio at most held back).
        name: The input's name for the stall warning; None: no warning.
        warn_after: Seconds without an item before the warning; None: no warning.
    """
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    stop = threading.Event()
    batches: queue.Queue[tuple[list[T], BaseException | None]] = queue.Queue(maxsize=_DEPTH)

    def put(entry: tuple[list[T], BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                batches.put(entry, timeout=0.5)
            except queue.Full:
                continue
            _notify(loop, ready.set)
            return True
        return False

    def work() -> None:
        try:
            while chunk := list(itertools.islice(items, batch)):
                if not put((chunk, None)):
                    return
            put(([], None))
        except BaseException as e:
            put(([], e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    threading.Thread(target=work, name="speechkit-input", daemon=True).start()
    waiter = _Waiter(name, warn_after)
    try:
        while True:
            try:
                chunk, error = batches.get_nowait()
            except queue.Empty:
                ready.clear()
                if batches.empty():
                    await waiter.wait(ready)
                continue
            if error is not None:
                raise error
            if not chunk:
                return
            for item in chunk:
                yield item
    finally:
        stop.set()


class PipeReader(io.RawIOBase):
    """A file descriptor (standard input: ``PipeReader(0)``) read with ``os.read``: each read
    returns what the pipe holds, and it takes no lock. A reader blocked in
    ``sys.stdin.buffer.read`` holds the buffer's lock, and a daemon thread stuck there makes the
    interpreter's exit abort (``Fatal Python error: could not acquire lock``) after Ctrl-C.

    Args:
        fd: The descriptor; not closed by :meth:`close`.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def seekable(self) -> bool:
        try:
            os.lseek(self._fd, 0, os.SEEK_CUR)
        except OSError:
            return False
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(functools.partial(os.read, self._fd, 1 << 16), b""))
        return os.read(self._fd, size)

    def readinto(self, buffer: Any) -> int:
        data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:  # the descriptor is the caller's
        super().close()
