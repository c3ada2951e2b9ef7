"""Micro-batching: concurrent small requests combined into one model call.

Each request is parsed and checked against the signature on its own (a bad one gets its own
400 and never joins a batch). Its rows then wait in the event loop: the first waiter of an
empty batch starts a timer of ``wait`` seconds; when it fires, or as soon as the batch holds
``max_rows`` rows, the frames are concatenated, the model is called once, and its output is
cut back into each caller's rows, in order. With a wait of 0 the batch goes out at the next
turn of the event loop: it holds the requests that were read together, which under load are
the ones that arrived while the model was busy, and a lone request does not wait at all.

When the model's output cannot be cut by rows (its length is not the number of rows), or the
combined call fails, each request is predicted on its own instead, so every caller gets exactly
what a call with its own rows would have given, errors included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from runstone.serving.payloads import Block


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        predict_array: Callable[[Any], Any] | None = None,
        wait: float,
        max_rows: int = 256,
        on_call: Callable[[int], None] = lambda rows: None,
    ) -> None:
        self.predict = predict
        self.predict_array = predict_array  # for blocks: the model on their stacked arrays
        self.wait = wait
        self.max_rows = max_rows
        self.on_call = on_call
        # Pending requests grouped by their columns: only frames of one shape are combined.
        self._pending: dict[tuple[Any, ...], list[tuple[Any, asyncio.Future[Any]]]] = {}
        self._rows: dict[tuple[Any, ...], int] = {}
        self._timers: dict[tuple[Any, ...], asyncio.Handle] = {}

    async def submit(self, frame: Any) -> Any:
        """The model's output for ``frame``'s rows: a checked pandas DataFrame, or a
        ``payloads.Block`` (one 2-D array in the signature's columns)."""
        loop = asyncio.get_running_loop()
        if isinstance(frame, Block):
            key: tuple[Any, ...] = ("block", tuple(frame.columns), str(frame.array.dtype))
        else:
            key = ("frame", tuple(frame.columns), tuple(str(t) for t in frame.dtypes))
        future: asyncio.Future[Any] = loop.create_future()
        group = self._pending.setdefault(key, [])
        group.append((frame, future))
        self._rows[key] = self._rows.get(key, 0) + len(frame)
        if self._rows[key] >= self.max_rows:
            self._flush(key)
        elif len(group) == 1:
            # wait 0: the requests read in this turn of the event loop (those that arrived while
            # the model was busy) go together, and a lone request never waits.
            self._timers[key] = (
                loop.call_later(self.wait, self._flush, key) if self.wait > 0 else loop.call_soon(self._flush, key)
            )
        return await future

    def _flush(self, key: tuple[Any, ...]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        batch = self._pending.pop(key, [])
        self._rows.pop(key, None)
        if not batch:
            return
        if len(batch) == 1:
            frame, future = batch[0]
            self._settle(future, frame)
            return
        frames = [frame for frame, _ in batch]
        sizes = [len(f) for f in frames]
        try:
            self.on_call(sum(sizes))
            if self.predict_array is not None and isinstance(frames[0], Block):
                import numpy as np

                output = self.predict_array(np.vstack([b.array for b in frames]))
            else:
                output = self.predict(_combine(frames))
            parts = split(output, sizes)
        except Exception:
            parts = None
        if parts is None:  # predict each on its own: same answers (and errors) as unbatched calls
            for frame, future in batch:
                self._settle(future, frame)
            return
        for (_, future), part in zip(batch, parts, strict=True):
            if not future.done():
                future.set_result(part)

    def _settle(self, future: asyncio.Future[Any], frame: Any) -> None:
        try:
            self.on_call(len(frame))
            if isinstance(frame, Block):
                result = self.predict_array(frame.array) if self.predict_array else self.predict(frame.frame())
            else:
                result = self.predict(frame)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)


def _combine(items: list[Any]) -> Any:
    """One DataFrame of the items' rows, in order."""
    import pandas as pd

    if isinstance(items[0], Block):
        import numpy as np

        return pd.DataFrame(np.vstack([b.array for b in items]), columns=items[0].columns, copy=False)
    return pd.concat(items, ignore_index=True, copy=False)


def split(output: Any, sizes: list[int]) -> list[Any] | None:
    """``output`` cut into consecutive pieces of ``sizes`` rows, or None when it has not
    exactly one entry per row."""
    total = sum(sizes)
    try:
        length = len(output)
    except TypeError:
        return None
    if length != total or isinstance(output, (str, bytes, dict)):
        return None
    module = type(output).__module__
    parts = []
    start = 0
    for size in sizes:
        end = start + size
        if module.startswith("pandas"):
            part = output.iloc[start:end]
            part.index = range(size)
        else:
            part = output[start:end]
        parts.append(part)
        start = end
    return parts
