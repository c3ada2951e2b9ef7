"""System metrics: CPU, memory, disk, network (and GPUs through NVML when ``pynvml`` imports),
sampled on a background thread while a run is active and logged as ``system/...`` metrics under
MLflow's names; the step counts samples."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from runstone.entities import Metric

MB = 1024 * 1024

Sink = Callable[[str, list[Metric]], None]


def _gpu_handles() -> tuple[Any, list[Any]]:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no pynvml, no driver, no GPU: no GPU metrics
        return None, []


class SystemMetricsSampler:
    """Samples every ``interval`` seconds into ``sink(run_id, metrics)`` until ``stop()``."""

    def __init__(self, run_id: str, sink: Sink, interval: float, disk: Path) -> None:
        self.run_id = run_id
        self.sink = sink
        self.interval = max(float(interval), 0.1)
        self.disk = str(disk if disk.exists() else Path.cwd())
        self.step = 0
        self._stop = threading.Event()
        net = psutil.net_io_counters()
        self._net0 = (net.bytes_recv, net.bytes_sent) if net else (0, 0)
        self._nvml, self._gpus = _gpu_handles()
        psutil.cpu_percent(interval=None)  # the first reading is meaningless; prime it
        self._thread = threading.Thread(target=self._loop, name=f"runstone-system-metrics-{run_id}", daemon=True)

    def start(self) -> SystemMetricsSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling; returns after the last sample was handed to the sink."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(self.interval, 5.0))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sink(self.run_id, self.sample())
            except Exception:  # a failed sample must never disturb training
                pass
            self.step += 1

    def readings(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(self.disk)
        values = {
            "cpu_utilization_percentage": psutil.cpu_percent(interval=None),
            "system_memory_usage_megabytes": (memory.total - memory.available) / MB,
            "system_memory_usage_percentage": memory.percent,
            "disk_usage_percentage": disk.percent,
            "disk_usage_megabytes": disk.used / MB,
            "disk_available_megabytes": disk.free / MB,
        }
        net = psutil.net_io_counters()
        if net:
            values["network_receive_megabytes"] = (net.bytes_recv - self._net0[0]) / MB
            values["network_transmit_megabytes"] = (net.bytes_sent - self._net0[1]) / MB
        for i, handle in enumerate(self._gpus):
            try:
                nvml = self._nvml
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                values[f"gpu_{i}_utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                values[f"gpu_{i}_memory_usage_megabytes"] = mem.used / MB
                values[f"gpu_{i}_memory_usage_percentage"] = 100.0 * mem.used / mem.total if mem.total else 0.0
            except Exception:
                continue
        return values

    def sample(self) -> list[Metric]:
        now = int(time.time() * 1000)
        return [Metric(f"system/{key}", float(value), now, self.step) for key, value in self.readings().items()]
