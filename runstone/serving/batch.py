"""Batch scoring of Parquet and CSV files, in chunks, so files larger than memory work.

The input is read with pyarrow a chunk of rows at a time (only the columns the model and the
output need), each chunk is checked against the signature and predicted, and the predictions
are appended to the output file with the input's key columns, before the next chunk is read.
Memory use is a few chunks, whatever the size of the file.

Key columns are the ones named, or, when none are, every input column the model's signature
does not take (ids, timestamps ...). Predictions are written as ``prediction`` (one value per
row, also for a model answering an array of shape (rows, 1)), ``prediction`` holding a list
(several values per row), or the model's own column names
when it returns a table.
"""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput, NotFound
from runstone.models.pyfunc_model import PyFuncModel
from runstone.models.signature import ColSpec, Schema
from runstone.serving.fastpath import FEATURE_NAMES_WARNING, array_predictor

_ARROW_TYPES = {
    "boolean": "bool_",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "binary": "binary",
}


@dataclass
class BatchResult:
    rows: int
    chunks: int
    seconds: float
    output: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise InvalidInput(f"{path} is neither .parquet nor .csv; batch scoring reads and writes those two formats.")


def _rechunk(batches: Iterator[Any], size: int) -> Iterator[Any]:
    """Record batches of exactly ``size`` rows (the last one may be shorter)."""
    import pyarrow as pa

    pending: list[object] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == size:
                yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


class Reader:
    """Chunks of an input file, and what is known of its columns and size."""

    def __init__(self, path: Path, chunk_size: int, schema: Schema | None) -> None:
        if not path.is_file():
            raise NotFound(f"No input file at {path}.")
        self.path = path
        self.chunk_size = chunk_size
        self.kind = _format(path)
        self.total_rows: int | None = None
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetFile(path, memory_map=True)
            self.columns = list(self._parquet.schema_arrow.names)
            self.total_rows = self._parquet.metadata.num_rows
        else:
            import pyarrow.csv as pcsv

            with open(path, "rb") as f:
                header = f.readline().decode("utf-8").rstrip("\r\n")
            self.columns = next(iter(csv.reader([header])), [])
            self._csv_types = {}
            for spec in schema.specs if schema is not None and schema.has_names and not schema.is_tensor else []:
                if isinstance(spec, ColSpec) and spec.raw is None and spec.type in _ARROW_TYPES:
                    import pyarrow as pa

                    self._csv_types[spec.name] = getattr(pa, _ARROW_TYPES[spec.type])()
            self._pcsv = pcsv

    def batches(self, columns: Sequence[str]) -> Iterator[Any]:
        if self.kind == "parquet":
            yield from self._parquet.iter_batches(batch_size=self.chunk_size, columns=list(columns))
            return
        pcsv = self._pcsv
        reader = pcsv.open_csv(
            self.path,
            read_options=pcsv.ReadOptions(block_size=8 * 1024 * 1024),
            convert_options=pcsv.ConvertOptions(
                column_types={k: v for k, v in self._csv_types.items() if k in columns},
                include_columns=list(columns),
            ),
        )
        yield from _rechunk(iter(reader), self.chunk_size)


def prediction_columns(predictions: Any, rows: int, taken: set[str]) -> dict[str, object]:
    """Arrow arrays of a chunk's predictions, by output column name."""
    import numpy as np
    import pyarrow as pa

    module = type(predictions).__module__
    if module.startswith("pandas") and hasattr(predictions, "columns"):
        out = {}
        for column in predictions.columns:
            name = str(column)
            out[f"prediction_{name}" if name in taken else name] = pa.array(predictions[column].to_numpy())
        return out
    if module.startswith("pandas"):
        predictions = predictions.to_numpy()
    array = np.asarray(predictions)
    if array.ndim == 0 or len(array) != rows:
        raise InvalidInput(f"The model returned {array.shape} for {rows} rows; batch scoring needs one answer per row.")
    name = "prediction" if "prediction" not in taken else "prediction_"
    if array.ndim > 1 and int(np.prod(array.shape[1:])) == 1:  # one output of one value (a Keras regressor)
        array = array.reshape(-1)
    if array.ndim == 1:
        return {name: pa.array(array)}
    width = int(np.prod(array.shape[1:]))
    flat = pa.array(np.ascontiguousarray(array).reshape(-1))
    return {name: pa.FixedSizeListArray.from_arrays(flat, width)}


class Writer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = _format(path)
        self._writer: Any = None

    def write(self, table: Any) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _arrow_types(schema: Schema | None) -> dict[str, object]:
    import pyarrow as pa

    if schema is None:
        return {}
    return {
        s.name: getattr(pa, _ARROW_TYPES[s.type])()
        for s in schema.specs
        if isinstance(s, ColSpec) and s.name is not None and s.type in _ARROW_TYPES
    }


def _checked_array(batch: Any, features: list[str] | None, types: dict[str, Any]) -> Any:
    """The chunk's feature columns as one 2-D array when they are exactly of the signature's
    types and hold no missing values (what enforcing the signature would leave as it is), else None."""
    import numpy as np

    if not features:
        return None
    columns = []
    for name in features:
        column = batch.column(name)
        if column.type != types.get(name) or column.null_count:
            return None
        columns.append(column.to_numpy(zero_copy_only=False))
    return np.column_stack(columns)


def _checked(batches: Iterator[Any], source: Path) -> Iterator[Any]:
    """Read errors (a value that is not of its column's type) as InvalidInput."""
    import pyarrow as pa

    try:
        yield from batches
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"Cannot read {source} in the types of the model's signature: {exc}") from None


class _Stage:
    """A background thread between two bounded queues: it reads ahead (or writes behind) at
    most ``depth`` chunks, so scoring overlaps with I/O and memory stays a few chunks."""

    _END = object()

    def __init__(self, depth: int = 2) -> None:
        import queue

        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None

    def put(self, item: object) -> None:
        self.queue.put(item)

    def finish(self) -> None:
        self.queue.put(self._END)


def _read_ahead(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    import threading

    stage = _Stage(depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                stage.put(batch)
        except BaseException as exc:  # handed to the consumer, raised there
            stage.error = exc
        finally:
            stage.finish()

    thread = threading.Thread(target=run, name="runstone-batch-read", daemon=True)
    thread.start()
    try:
        while True:
            item = stage.queue.get()
            if item is _Stage._END:
                break
            yield item
        if stage.error is not None:
            raise stage.error
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                stage.queue.get_nowait()
            except Exception:
                thread.join(timeout=0.05)


class _WriteBehind:
    def __init__(self, writer: Writer, depth: int = 2) -> None:
        import threading

        self.writer = writer
        self.stage = _Stage(depth)
        self.thread = threading.Thread(target=self._run, name="runstone-batch-write", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.stage.queue.get()
            if item is _Stage._END:
                return
            if self.stage.error is None:
                try:
                    self.writer.write(item)
                except BaseException as exc:
                    self.stage.error = exc

    def write(self, table: object) -> None:
        if self.stage.error is not None:
            raise self.stage.error
        self.stage.put(table)

    def close(self) -> None:
        self.stage.finish()
        self.thread.join()
        self.writer.close()
        if self.stage.error is not None:
            raise self.stage.error


def predict_file(
    model: PyFuncModel,
    input_path: str | Path,
    output_path: str | Path,
    *,
    chunk_size: int = 100_000,
    key_columns: Sequence[str] | None = None,
    params: Mapping[str, object] | None = None,
    progress: Callable[[int, int | None], None] = lambda done, total: None,
) -> BatchResult:
    """Score ``input_path`` chunk by chunk into ``output_path`` (Parquet or CSV).

    The next chunk is read and the previous one written in background threads while a chunk
    is scored (pyarrow reads, decodes and writes without holding the GIL)."""
    import pyarrow as pa

    if chunk_size < 1:
        raise InvalidInput(f"The chunk size must be at least 1; got {chunk_size}.")
    source, target = Path(input_path), Path(output_path)
    if source.resolve() == target.resolve():
        raise InvalidInput("The output file must not be the input file.")
    schema = model.metadata.get_input_schema()
    reader = Reader(source, chunk_size, schema)
    features = schema.names() if schema is not None and schema.has_names and not schema.is_tensor else None
    if key_columns:
        missing = [k for k in key_columns if k not in reader.columns]
        if missing:
            raise InvalidInput(f"Key column(s) {missing} are not in {source} (it has: {', '.join(reader.columns)}).")
        keys = list(key_columns)
    else:
        keys = [c for c in reader.columns if features is not None and c not in features]
    wanted = [c for c in reader.columns if c in keys or features is None or c in features]
    fast = array_predictor(model)
    arrow_types = _arrow_types(schema) if fast is not None else {}
    existed = target.exists()
    writer = _WriteBehind(Writer(target))
    started = time.perf_counter()
    done = chunks = 0
    progress(0, reader.total_rows)
    failed = True
    try:
        for batch in _read_ahead(_checked(reader.batches(wanted), source)):
            rows = batch.num_rows
            if not rows:
                continue
            try:
                array = _checked_array(batch, features, arrow_types) if fast is not None and not params else None
                if array is not None:
                    assert fast is not None
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
                        predictions = fast(array)
                else:
                    frame = batch.select([c for c in batch.schema.names if features is None or c in features])
                    predictions = model.predict(frame.to_pandas(), params)
            except InvalidInput as exc:
                raise InvalidInput(f"Rows {done + 1}-{done + rows} of {source}: {exc.message}", exc.details) from None
            columns = {k: batch.column(k) for k in keys}
            columns.update(prediction_columns(predictions, rows, set(keys)))
            writer.write(pa.table(columns))
            done += rows
            chunks += 1
            progress(done, reader.total_rows)
        failed = False
    finally:
        try:
            writer.close()
        finally:
            if failed and not existed:
                target.unlink(missing_ok=True)  # no half-written output left behind
    if not chunks:
        raise InvalidInput(f"{source} holds no rows; nothing was scored.")
    return BatchResult(done, chunks, time.perf_counter() - started, target)
