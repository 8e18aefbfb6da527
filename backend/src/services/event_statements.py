"""The change feed's statements: each write recorded and announced, then replayed and purged.

A write's statement is a data-modifying CTE: the change to `tasks`, its row in `task_events`
and a `pg_notify` to wake the listeners, one statement and one round trip. The notification is
sent when the write commits, and not at all when it rolls back. Each statement names the owner.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from src.models.task_event import EVENT_KINDS
from src.services.statements import EVENTS, NOW, Statement, owned, statement

CHANNEL = "task_events"  # what each worker's listener LISTENs on
# pg_notify refuses a payload of 8000 bytes or more. A task of long text (control characters
# escaped six bytes each) can be larger: its event is announced without the task, and the
# listener reads it from the table.
PAYLOAD_BYTES = 7900
PURGE_BATCH = 100  # old events deleted at most per purge, so a purge never costs much


def _constant(text: str) -> sa.ColumnElement[str]:
    # A constant of this module, in the SQL text: not a bind, which `statement()` would refuse.
    return sa.literal_column("'" + text.replace("'", "''") + "'")


_SINCE: sa.BindParameter[datetime] = sa.bindparam("since")
_OLD_EVENTS = (
    sa.select(EVENTS.c.id)
    .where(owned(EVENTS), EVENTS.c.created_at < _SINCE)
    .order_by(EVENTS.c.id)
    .limit(sa.literal_column(str(PURGE_BATCH)))
)
_PURGE = sa.delete(EVENTS).where(owned(EVENTS), EVENTS.c.id.in_(_OLD_EVENTS.scalar_subquery()))


def recorded(written: sa.CTE, kind: str, *, purge: bool) -> Statement:
    """The rows of `written` (a write's CTE returning tasks), each recorded as a `kind` event
    and announced; with `purge`, the owner's oldest expired events go in the same statement."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    task = (
        sa.cast(sa.null(), JSONB)
        if kind == "deleted"
        else sa.func.to_jsonb(sa.literal_column(written.name))
    )
    rows = sa.select(written.c.user_id, written.c.id, _constant(kind), task, NOW)
    event = (
        sa.insert(EVENTS)
        .from_select(["user_id", "task_id", "kind", "task", "created_at"], rows)
        .returning(*EVENTS.c["id", "user_id", "task_id", "kind", "task"])
        .cte("event")
    )
    head = [
        part
        for name in ("id", "user_id", "task_id", "kind")
        for part in (_constant(name), event.c[name])
    ]
    whole = sa.cast(sa.func.json_build_object(*head, _constant("task"), event.c.task), sa.Text)
    short = sa.cast(sa.func.json_build_object(*head), sa.Text)
    payload = sa.case(
        (sa.func.octet_length(whole) < sa.literal_column(str(PAYLOAD_BYTES)), whole), else_=short
    )
    announced = sa.func.pg_notify(_constant(CHANNEL), payload).label("announced")
    query = sa.select(*written.c, announced).select_from(
        written.join(event, written.c.id == event.c.task_id)
    )
    if purge:
        query = query.add_cte(_PURGE.cte("purged"))
    return statement(query)


REPLAY = statement(
    sa.select(*EVENTS.c["id", "kind", "task_id", "task", "created_at"])
    .where(owned(EVENTS), EVENTS.c.id >= sa.bindparam("from_id"))
    .order_by(EVENTS.c.id)
    .limit(sa.bindparam("limit"))
)
PURGE = statement(_PURGE)
