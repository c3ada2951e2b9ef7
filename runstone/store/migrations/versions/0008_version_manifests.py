"""version manifests: the files of each registered version's package, recorded at registration

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:30:00.000000

Versions registered before this revision get their manifest here, from the SHA-256 recorded when
each file was logged (never from the bytes in storage now), so that a file altered in storage
before the upgrade is refused like one altered after it. Deployment records gain the digest of
the version they served.
"""

from __future__ import annotations

import hashlib
import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As runstone.store.version_manifests and runstone.entities.manifest_digest when this was written.
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.*)$")
_LOGGED = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("manifest_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest_digest", sa.String(length=64), nullable=True))
    _backfill()


def _files(bind: sa.engine.Connection, source: str) -> list[tuple[str, int, str]]:
    if (run := _RUNS.match(source)) is not None:
        path = run["path"].strip("/")
        rows = bind.execute(
            sa.text(
                "SELECT a.path, a.size, a.sha256 FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.uuid = :run"
            ),
            {"run": run["run"]},
        )
        start = len(path) + 1 if path else 0
        return [(p[start:], s, h) for p, s, h in rows if not path or p.startswith(path + "/")]
    if (logged := _LOGGED.match(source)) is not None:
        rows = bind.execute(
            sa.text(
                "SELECT a.path, a.size, a.sha256 FROM logged_model_artifacts a "
                "JOIN logged_models m ON m.id = a.model_pk WHERE m.model_id = :id"
            ),
            {"id": logged["id"]},
        )
        return [(p, s, h) for p, s, h in rows]
    return []


def _backfill() -> None:
    bind = op.get_bind()
    versions = bind.execute(sa.text("SELECT id, source FROM model_versions")).all()
    for version_id, source in versions:
        files = sorted(_files(bind, source))
        digest = hashlib.sha256()
        for path, _, sha256 in files:
            digest.update(f"{sha256}  {path}\n".encode())
        bind.execute(
            sa.text("UPDATE model_versions SET manifest = :manifest, manifest_digest = :digest WHERE id = :id"),
            {
                "manifest": json.dumps([list(f) for f in files], separators=(",", ":")),
                "digest": digest.hexdigest(),
                "id": version_id,
            },
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("manifest_digest")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("manifest_digest")
        batch_op.drop_column("manifest")
