"""A small, realistic set of experiments for the browser tests and the screenshots in docs/ui.md."""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

from runstone.entities import Dataset, Gate, Metric, Policy
from runstone.sdk.client import RunstoneClient

T0 = 1_717_000_000_000
SOURCE = "runstone.source.name"
COMMIT = "runstone.source.git.commit"
DIRTY = "runstone.source.git.dirty"
BRANCH = "runstone.source.git.branch"


def png(width: int = 48, height: int = 32) -> bytes:
    """A small gradient PNG, written by hand so that no imaging library is needed."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@dataclass
class Demo:
    sweep_id: str = ""
    archive_id: str = ""
    runs: dict[str, str] = field(default_factory=dict)  # run name -> run id

    def run(self, name: str) -> str:
        return self.runs[name]


def _curve(client: RunstoneClient, run_id: str, lr: float, steps: int, seed: int) -> None:
    points = []
    for step in range(steps):
        loss = 2.0 * math.exp(-lr * 40 * step / steps) + 0.05 * math.sin(step / 7 + seed) ** 2
        if step == steps // 2 and seed == 1:
            loss += 1.5  # a spike that downsampling must not hide
        accuracy = 1 - loss / 2.5
        points += [
            Metric("loss", loss, T0 + seed * 1_000_000 + step * 1000, step),
            Metric("accuracy", accuracy, T0 + seed * 1_000_000 + step * 1000, step),
        ]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i : i + 1000])


def populate(client: RunstoneClient) -> Demo:
    demo = Demo()
    demo.sweep_id = client.create_experiment("vision-sweep")
    demo.archive_id = client.create_experiment("archive")
    client.set_experiment_tag(
        demo.sweep_id,
        "runstone.note.content",
        "Learning-rate sweep of the **ResNet** baseline.\n\n- data: `cifar-10`\n- owner: vision team",
    )
    configs = [
        ("baseline", 0.1, 64, "sgd"),
        ("wide-lr", 0.3, 64, "sgd"),
        ("small-batch", 0.1, 16, "adam"),
        ("tiny-lr", 0.01, 128, "adam"),
        ("mid-lr", 0.05, 32, "sgd"),
    ]
    for i, (name, lr, batch, optimizer) in enumerate(configs):
        run = client.create_run(
            demo.sweep_id,
            start_time=T0 + i * 3_600_000,
            run_name=name,
            tags={
                SOURCE: "train.py",
                COMMIT: f"{i:x}3c9e1f2a7b4d8e6f0a1b2c3d4e5f6a7b8c9d0e1",
                DIRTY: str(i == 2).lower(),
            },
        )
        run_id = run.info.run_id
        demo.runs[name] = run_id
        client.log_batch(
            run_id,
            params=[("lr", str(lr)), ("batch_size", str(batch)), ("optimizer", optimizer), ("epochs", "10")],
            tags=[("team", "vision")],
        )
        _curve(client, run_id, lr, 300, i)
        client.set_terminated(
            run_id, "FINISHED" if name != "tiny-lr" else "FAILED", end_time=T0 + i * 3_600_000 + 1_800_000 + i * 60_000
        )

    parent = client.create_run(
        demo.sweep_id, start_time=T0 + 6 * 3_600_000, run_name="grid-search", tags={SOURCE: "sweep.py"}
    )
    demo.runs["grid-search"] = parent.info.run_id
    for j, lr in enumerate((0.02, 0.2)):
        child = client.create_run(
            demo.sweep_id,
            start_time=T0 + 6 * 3_600_000 + (j + 1) * 60_000,
            run_name=f"trial-{j + 1}",
            tags={SOURCE: "sweep.py"},
            parent_run_id=parent.info.run_id,
        )
        demo.runs[f"trial-{j + 1}"] = child.info.run_id
        client.log_batch(child.info.run_id, params=[("lr", str(lr)), ("batch_size", "64"), ("optimizer", "sgd")])
        _curve(client, child.info.run_id, lr, 100, 10 + j)
        client.set_terminated(child.info.run_id, end_time=T0 + 6 * 3_600_000 + (j + 2) * 600_000)
    client.set_terminated(parent.info.run_id, end_time=T0 + 7 * 3_600_000)

    baseline = demo.run("baseline")
    client.log_text(baseline, "epoch,loss,accuracy\n1,1.52,0.41\n2,0.98,0.63\n3,0.61,0.79\n", "eval/metrics.csv")
    client.log_dict(baseline, {"model": "resnet18", "layers": [2, 2, 2, 2], "dropout": 0.1}, "config.json")
    client.log_text(baseline, "flavors:\n  python_function:\n    loader_module: runstone.models\n", "model/MLmodel")
    client.log_text(baseline, "training finished in 30 minutes\n", "logs/train.log")
    client.log_text(
        baseline,
        "<html><body><h1>Report</h1><p>Accuracy 0.79</p><script>document.title='ran'</script></body></html>",
        "report.html",
    )
    _log_bytes(client, baseline, png(), "plots/confusion.png")
    client.set_tag(baseline, "runstone.note.content", "Baseline run. Uses the **default** augmentation.")
    client.log_inputs(
        baseline,
        [
            (
                Dataset(
                    "cifar-10",
                    "9f2b1c3d4e5f6a7b",
                    "path",
                    "/data/cifar-10",
                    '{"columns": ["image", "label"]}',
                    '{"rows": 50000}',
                ),
                {"runstone.data.context": "training"},
            )
        ],
    )
    return demo


@dataclass
class RegistryDemo:
    model: str = "fraud-detector"
    versions: dict[str, str] = field(default_factory=dict)  # run name -> version


def populate_registry(client: RunstoneClient, demo: Demo) -> RegistryDemo:
    """A governed model: version 1 in Production (@champion), 2 in Staging (@challenger), 3 new."""
    registry = RegistryDemo()
    client.create_registered_model(
        registry.model,
        description="Scores card payments for fraud.\n\nTrained on the **vision-sweep** runs; owner: risk team.",
        tags={"team": "risk", "sla": "50 ms"},
    )
    for name in ("baseline", "small-batch", "wide-lr"):
        run_id = demo.run(name)
        if name != "baseline":  # the baseline run logged its model with the demo artifacts
            client.log_text(
                run_id, "flavors:\n  python_function:\n    loader_module: runstone.models\n", "model/MLmodel"
            )
        version = client.create_model_version(
            registry.model, f"runs:/{run_id}/model", description=f"Model of the {name} run."
        )
        registry.versions[name] = version.version
    client.transition_model_version_stage(registry.model, "1", "Staging")
    client.transition_model_version_stage(registry.model, "1", "Production", archive_existing_versions=True)
    client.set_registered_model_alias(registry.model, "champion", "1")
    client.transition_model_version_stage(registry.model, "2", "Staging")
    client.set_registered_model_alias(registry.model, "challenger", "2")
    client.set_model_policy(
        registry.model,
        Policy(
            protected_stages=["Production"],
            protected_aliases=["champion"],
            required_approvals=1,
            gates=[Gate("accuracy", ">=")],
        ),
    )
    client.create_registered_model("churn-model", description="Predicts which customers leave next month.")
    client.create_model_version("churn-model", f"runs:/{demo.run('baseline')}/model")
    return registry


def _log_bytes(client: RunstoneClient, run_id: str, data: bytes, path: str) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / path.rsplit("/", 1)[-1]
        file.write_bytes(data)
        client.log_artifact(run_id, file, path.rsplit("/", 1)[0] if "/" in path else None)


@dataclass
class Sweep:
    """A 500-run sweep: 100 configurations, each a parent run with four nested folds."""

    experiment_id: str = ""
    parents: dict[str, str] = field(default_factory=dict)  # parent run name -> run id
    folds: dict[str, str] = field(default_factory=dict)  # fold run name -> run id
    lrs: dict[str, float] = field(default_factory=dict)  # parent run name -> learning rate
    running: list[str] = field(default_factory=list)  # names of the runs still running
    long_steps: int = 2000

    @property
    def total(self) -> int:
        return len(self.parents) + len(self.folds)


SWEEP_CONFIGS = 100
SWEEP_FOLDS = 4
SWEEP_T0 = T0 + 30 * 24 * 3_600_000


def _fold_curve(lr: float, fold: int, steps: int) -> list[Metric]:
    points = []
    for step in range(steps):
        t = SWEEP_T0 + step * 500
        loss = 1.5 * math.exp(-step * min(lr * 20, 1) / 200) + 0.1 + 0.02 * fold
        points.append(Metric("train/loss", loss, t, step))
        if step % 10 == 9:  # validation every tenth step, as training loops do
            points.append(Metric("val/error", loss / 3, t, step))
    return points


def _sweep_config(client: RunstoneClient, sweep: Sweep, i: int) -> None:
    name = f"cfg-{i:03d}"
    lr = 10 ** (-4 + 3 * ((i * 37) % SWEEP_CONFIGS) / (SWEEP_CONFIGS - 1))  # 1e-4 .. 1e-1
    start = SWEEP_T0 + i * 600_000
    optimizer = ("sgd", "adam", "adamw")[i % 3]
    params = {"lr": f"{lr:.6g}", "batch_size": str(2 ** (4 + i % 4)), "optimizer": optimizer, "epochs": "10"}
    parent = client.create_run(sweep.experiment_id, start_time=start, run_name=name, tags={SOURCE: "sweep.py"})
    parent_id = parent.info.run_id
    sweep.parents[name] = parent_id
    sweep.lrs[name] = float(params["lr"])
    steps = 2000 if i % 50 == 0 else 200
    running = i >= SWEEP_CONFIGS - 2
    finals = []
    for fold in range(SWEEP_FOLDS):
        fold_name = f"{name}-fold{fold}"
        child = client.create_run(
            sweep.experiment_id,
            start_time=start + 1000 + fold,
            run_name=fold_name,
            tags={SOURCE: "sweep.py", "fold": str(fold)},
            parent_run_id=parent_id,
        )
        sweep.folds[fold_name] = child.info.run_id
        curve = _fold_curve(lr, fold, steps)
        finals.append(curve[-1].value)
        batch = [*params.items(), ("fold", str(fold))]
        for j in range(0, len(curve), 1000):
            client.log_batch(child.info.run_id, metrics=curve[j : j + 1000], params=batch if j == 0 else ())
        if running:
            sweep.running.append(fold_name)
        else:
            client.set_terminated(child.info.run_id, end_time=start + 1000 + steps * 500)
    mean = sum(finals) / len(finals)
    client.log_batch(
        parent_id,
        metrics=[Metric("train/loss", mean, start + 60_000, 0), Metric("val/error", mean / 3, start + 60_000, 0)],
        params=params,
    )
    if i in (17, 53):
        client.set_terminated(parent_id, "FAILED", end_time=start + 120_000)
    elif i == 29:
        client.set_terminated(parent_id, "KILLED", end_time=start + 90_000)
    elif running:
        sweep.running.append(name)
    else:
        client.set_terminated(parent_id, end_time=start + 1000 + steps * 500 + 5000)


def populate_sweep(client: RunstoneClient) -> Sweep:
    """Parents log the configuration and one final value per metric; folds log 200 steps (those of
    configurations 0 and 50 log 2,000). Parents 17 and 53 failed, 29 was killed, the last two
    configurations still run. Configurations are written four at a time, as a sweep would."""
    from concurrent.futures import ThreadPoolExecutor

    sweep = Sweep(experiment_id=client.create_experiment("fold-sweep"))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: _sweep_config(client, sweep, i), range(SWEEP_CONFIGS)))
    return sweep


@dataclass
class LongRun:
    """A run whose metrics are longer than a chart has points: 2,000 and 50,000 steps."""

    run_id: str = ""
    short_key: str = "loss"
    long_key: str = "signal"
    short_steps: int = 2000
    long_steps: int = 50_000
    spike_step: int = 31_337

    def short_value(self, step: int) -> float:
        return 2 * math.exp(-step / 500) + 0.1 * math.sin(step / 10)

    def long_value(self, step: int) -> float:
        return math.exp(-step / 20_000) + 0.3 * math.sin(step / 50) + (5.0 if step == self.spike_step else 0.0)


def populate_long_run(client: RunstoneClient) -> LongRun:
    long = LongRun()
    experiment_id = client.create_experiment("long-histories")
    long.run_id = client.create_run(experiment_id, start_time=T0, run_name="long-run").info.run_id
    points = [Metric(long.short_key, long.short_value(s), T0 + s, s) for s in range(long.short_steps)]
    points += [Metric(long.long_key, long.long_value(s), T0 + s, s) for s in range(long.long_steps)]
    for i in range(0, len(points), 1000):
        client.log_batch(long.run_id, metrics=points[i : i + 1000])
    client.set_terminated(long.run_id, end_time=T0 + long.long_steps)
    return long
