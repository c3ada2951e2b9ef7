"""With artifacts in S3 (a real SeaweedFS), prediction logs are stored there as Parquet, read back
for windows, and removed by retention; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from s3server import S3Server, weed_mini

from runstone.backend import open_backend
from runstone.config import Settings
from runstone.governance.context import Principal
from runstone.monitoring import logs
from tests.monitoring.conftest import SIGNATURE, records

pytestmark = pytest.mark.s3
T0 = 1_699_999_200_000
HOUR = 3_600_000


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def test_prediction_logs_live_in_s3(settings: Settings, s3_server: S3Server, monkeypatch, tmp_path: Path):
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    prefix = f"monitoring-{uuid.uuid4().hex}"
    s3 = settings.model_copy(
        update={"artifacts_destination": f"s3://{s3_server.bucket}/{prefix}", "s3_endpoint_url": s3_server.endpoint_url}
    )
    backend = open_backend(s3)
    try:
        ctx = backend.context(Principal("alice"))
        registry, monitoring = backend.registry(ctx), backend.monitoring(ctx)
        run_id = backend.tracking(ctx).create_run().info.run_id
        manifest = f"flavors: {{}}\nsignature:\n  inputs: '{SIGNATURE}'\n"
        backend.artifacts(ctx).log_artifact(run_id, "model/MLmodel", [manifest.encode()])
        registry.create_registered_model("fraud")
        registry.create_model_version("fraud", f"runs:/{run_id}/model", run_id)
        (table,) = logs.records_to_tables(records(40, start=T0, rows=3)).values()
        assert monitoring.ingest("fraud", "1", logs.to_parquet(table))["rows"] == 120

        def keys() -> list[str]:
            with closing(s3_server.client()) as client:
                found = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=f"{prefix}/monitoring/")
            return [o["Key"] for o in found.get("Contents", [])]

        (key,) = keys()
        assert key.startswith(f"{prefix}/monitoring/") and key.endswith(".parquet")
        assert monitoring.compute("fraud", "1", T0, T0 + HOUR)["rows"] == 120
        assert monitoring.purge(T0 + HOUR)["files"] == 1
        assert keys() == []
    finally:
        backend.close()
