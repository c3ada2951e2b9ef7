"""Reading and verifying the hash-chained audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from runstone.entities import AuditEvent
from runstone.store import audit as audit_store
from runstone.store.engine import Database


@dataclass
class Verification:
    ok: bool
    events: int
    head: str
    problem: str | None = None
    first_bad_seq: int | None = None


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def events(
        self,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        after_seq: int = 0,
        limit: int = 1000,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[AuditEvent]:
        with self.db.transaction() as s:
            return audit_store.events(
                s,
                target_type=target_type,
                target_id=target_id,
                after_seq=after_seq,
                limit=min(max(limit, 1), 10_000),
                actor=actor,
                action=action,
                since=since,
                until=until,
            )

    def verify(self) -> Verification:
        """Recompute every hash: an edited, inserted or removed event breaks the chain."""
        prev = audit_store.GENESIS
        count = 0
        with self.db.transaction() as s:
            for row in audit_store.raw_chain(s):
                count += 1
                if row.seq != count:
                    return Verification(False, count, prev, f"event {count} is missing (found seq {row.seq})", count)
                if row.prev_hash != prev:
                    return Verification(
                        False, count, prev, f"event {row.seq} does not follow event {row.seq - 1}", row.seq
                    )
                expected = audit_store.event_hash(
                    prev, row.seq, row.time, row.actor, row.action, row.target_type, row.target_id,
                    row.before, row.after, row.request_id, row.token_id, row.client,
                )  # fmt: skip
                if expected != row.hash:
                    return Verification(False, count, prev, f"event {row.seq} was altered", row.seq)
                prev = row.hash
        return Verification(True, count, prev)
