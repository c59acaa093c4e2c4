"""The audit log: who viewed a full NIK, number or photo, exported data, or changed a booking.

Written in its own short transaction right after the action it records; the console writes the
entry before it sends any personal data, so a failed write means nothing was shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from antrean.booking.store import from_db_time, to_db_time
from antrean.console.schema import audit_log
from antrean.runtime.clock import Clock


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str | None
    office_id: str | None
    detail: dict
    remote_addr: str | None


class AuditLog:
    def __init__(self, engine: Engine, clock: Clock):
        self.engine = engine
        self.clock = clock

    def record(self, actor: str, action: str, target: str | None = None, office_id: str | None = None,
               remote_addr: str | None = None, **detail) -> None:
        with self.engine.begin() as connection:
            connection.execute(audit_log.insert().values(
                at=to_db_time(self.clock()), actor=actor, action=action, target=target, office_id=office_id,
                detail=json.dumps(detail, default=str, ensure_ascii=False) if detail else None,
                remote_addr=remote_addr,
            ))

    def recent(self, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            query = query.where(audit_log.c.action == action)
        with self.engine.connect() as connection:
            return [
                AuditEntry(from_db_time(row.at), row.actor, row.action, row.target, row.office_id,
                           json.loads(row.detail) if row.detail else {}, row.remote_addr)
                for row in connection.execute(query)
            ]
