"""The models a scoring server holds, and following the registry.

A ``Slot`` holds the model currently answering for one route (``primary``, a canary
``challenger``, or the ``shadow``). A request reads ``slot.current`` once and uses that model
from start to finish, so replacing it is a single reference assignment: requests in flight
finish on the old model, the next ones get the new one, and none is dropped.

With ``follow``, a ``Follower`` thread asks the registry every few seconds which version a
``models:/<name>@<alias>`` or ``models:/<name>/<stage>`` URI points at; when it moved, the new
version is downloaded, loaded and warmed up (its input example predicted) off the request path,
and only then swapped in. A version that fails to load is logged and the old one keeps serving.
The registry is reached through the model URI resolver and the client it is given, never
through a store.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstone.models.pyfunc_model import PyFuncModel, load_package
from runstone.models.signature import Schema
from runstone.models.uri import (
    RegistryRef,
    is_registered,
    local_path,
    logged_model_id,
    parse_models_uri,
    resolve_registered,
    version_path,
)
from runstone.serving.fastpath import array_predictor

log = logging.getLogger("runstone.serving")


@dataclass
class Served:
    """One loaded model version and where it came from."""

    model: PyFuncModel
    uri: str  # as asked for: models:/fraud@champion
    source: str  # what that resolved to: runs:/<id>/model, a folder
    name: str  # the registered model, else the package folder's name
    version: str  # the registered version, else the package's model_uuid
    run_id: str | None
    loaded_at: float
    path: Path
    scratch: Path | None = None  # a download folder this process owns
    batcher: Any = None  # a MicroBatcher bound to this model, when batching is on
    fast: Callable[[Any], Any] | None = None  # predict on a 2-D array of checked columns (fastpath.py)

    @property
    def input_schema(self) -> Schema | None:
        return self.model.metadata.get_input_schema()

    def describe(self) -> dict[str, object]:
        signature = self.model.signature
        return {
            "model_uri": self.uri,
            "source": self.source,
            "model_name": self.name,
            "model_version": self.version,
            "run_id": self.run_id,
            "model_uuid": self.model.metadata.model_uuid,
            "flavors": sorted(self.model.metadata.flavors),
            "loader_module": self.model.loader_module,
            "signature": signature.to_dict() if signature else None,
            "loaded_at": self.loaded_at,
        }


def registry_ref(uri: str) -> RegistryRef | None:
    """The registry reference of a URI that can move (alias, stage, latest), else None."""
    if not is_registered(uri):
        return None
    ref = parse_models_uri(uri)
    return None if ref.version is not None else ref


def load(uri: str, client: Any = None, *, version: Any = None) -> Served:
    """Download (when needed) and load the model ``uri`` names."""
    scratch: Path | None = None
    if is_registered(uri):
        ref = parse_models_uri(uri)
        if client is None:
            from runstone.models.runs import default_client

            client = default_client()
        mv = version if version is not None else resolve_registered(ref, client)
        source = str(mv.source)
        if source.startswith("runs:/"):
            scratch = Path(tempfile.mkdtemp(prefix="runstone-serve-"))
        path = version_path(mv, scratch, client, name=ref.name)  # checked against the version's manifest
        name, number, run_id = ref.name, str(mv.version), getattr(mv, "run_id", None) or None
        model = load_package(path)
    else:
        source = uri
        model_id = logged_model_id(uri)
        if uri.startswith("runs:/") or model_id is not None:
            scratch = Path(tempfile.mkdtemp(prefix="runstone-serve-"))
        path = local_path(uri, scratch, client)
        model = load_package(path)
        name, number, run_id = model_id or path.name, model.metadata.model_uuid, model.metadata.run_id
    served = Served(model, uri, source, name, number, run_id, time.time(), path, scratch)
    served.fast = array_predictor(model)
    warm_up(served)
    return served


def warm_up(served: Served) -> None:
    """Predict the package's input example once, so the first request pays no lazy imports."""
    info = served.model.metadata.saved_input_example_info
    if not info:
        return
    try:
        from runstone.models.example import load_input_example

        example = load_input_example(served.path, info, served.input_schema)
        served.model.predict(example)
    except Exception as exc:  # a model that cannot predict its own example still serves
        log.warning("warm-up of %s version %s failed: %s", served.name, served.version, exc)


def discard(served: Served) -> None:
    if served.scratch is not None:
        shutil.rmtree(served.scratch, ignore_errors=True)


@dataclass
class Slot:
    """The model answering for a role; ``current`` is replaced whole, never mutated."""

    role: str
    uri: str
    current: Served
    follow: bool = False
    on_swap: list[Callable[[Served, Served], None]] = field(default_factory=list)
    _retired: list[Served] = field(default_factory=list)

    def swap(self, new: Served) -> Served:
        old = self.current
        self.current = new
        # The replaced model may still be answering requests in flight: its files go with the
        # next swap, not this one.
        while self._retired:
            discard(self._retired.pop())
        self._retired.append(old)
        log.info(
            "%s model switched: %s version %s -> version %s (%s)",
            self.role,
            new.name,
            old.version,
            new.version,
            self.uri,
        )
        for hook in self.on_swap:
            hook(old, new)
        return old

    def close(self) -> None:
        for served in [*self._retired, self.current]:
            discard(served)
        self._retired.clear()


class Follower:
    """Polls the registry for the slots that follow a moving URI and swaps in new versions."""

    def __init__(
        self,
        slots: Iterable[Slot],
        client: object = None,
        *,
        interval: float = 5.0,
        prepare: Callable[[Served], None] = lambda served: None,
    ) -> None:
        self.slots = [s for s in slots if s.follow and registry_ref(s.uri) is not None]
        self.client = client
        self.interval = interval
        self.prepare = prepare  # e.g. attach a micro-batcher before the model goes live
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def registry(self) -> Any:
        """The tracking client the registry is read through (the default one unless given)."""
        if self.client is None:
            from runstone.models.runs import default_client

            self.client = default_client()
        return self.client

    def check(self, slot: Slot) -> bool:
        """Swap in the version the slot's URI points at now; True when it changed."""
        ref = registry_ref(slot.uri)
        assert ref is not None
        mv = resolve_registered(ref, self.registry())
        if str(mv.version) == slot.current.version:
            return False
        served = load(slot.uri, self.registry(), version=mv)
        self.prepare(served)
        slot.swap(served)
        return True

    def check_all(self) -> None:
        for slot in self.slots:
            try:
                self.check(slot)
            except Exception as exc:  # the registry away, a broken version: keep serving the old one
                self.failures += 1
                log.warning("following %s failed (still serving version %s): %s", slot.uri, slot.current.version, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_all()

    def start(self) -> None:
        if self.slots and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="runstone-follow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
