"""GET /api/{user_id}/tasks/events: each change of the caller's tasks, live, in order, resumable."""

import json
import time

import httpx
import pytest

from src.models.task import utc_now
from src.services import event_hub
from src.services.event_hub import LISTENER_NAME
from src.services.task_repository import _insert
from tests.conftest import SqlConnection
from tests.live.conftest import READ_SECONDS, LiveServer, Message, ServeApp

_WRITE = _insert(False)  # the service's own create, run here in one transaction


def _resync(detail: str) -> Message:
    """The last message of a stream that the client must rebuild from a fresh list."""
    return Message(event="resync", data=json.dumps({"detail": detail}))


def test_stream_relays_create_update_delete_in_order_with_ids(live: LiveServer) -> None:
    with live.stream("alice") as stream:
        created = live.send("POST", "alice", title="Buy milk").json()
        done = live.send("PATCH", "alice", f"/{created['id']}", completed=True).json()
        live.send("DELETE", "alice", f"/{created['id']}")

        events = stream.events(3)

    assert [(e.id, e.event) for e in events] == [(1, "created"), (2, "updated"), (3, "deleted")]
    assert [json.loads(e.data or "") for e in events] == [created, done, {"id": created["id"]}]


def test_stream_resumes_after_last_event_id_then_goes_live(live: LiveServer) -> None:
    first, second, third = (live.send("POST", "alice", title=t).json() for t in "abc")

    with live.stream("alice", last_event_id=1) as stream:
        replayed = stream.events(2)
        fourth = live.send("POST", "alice", title="d").json()
        [latest] = stream.events(1)

    assert [(e.id, json.loads(e.data or "")) for e in replayed] == [(2, second), (3, third)]
    assert (latest.id, json.loads(latest.data or "")) == (4, fourth)
    assert first["title"] == "a"


def test_stream_from_an_id_not_stored_asks_for_a_resync_and_ends(live: LiveServer) -> None:
    live.send("POST", "alice", title="a")

    with live.stream("alice", last_event_id=99) as stream:
        resync = stream.next()
        end = stream.next()

    assert resync == _resync(
        "Events after Last-Event-ID are no longer all stored; reload the task list, then reconnect"
    )
    assert end is None


def test_stream_of_one_user_never_carries_another_users_events(live: LiveServer) -> None:
    with live.stream("alice") as alices:
        live.send("POST", "bob", title="bob's secret")
        mine = live.send("POST", "alice", title="mine").json()

        [event] = alices.events(1)

    assert (event.id, json.loads(event.data or "")) == (2, mine)


def test_resume_with_another_users_event_id_replays_nothing_of_theirs(live: LiveServer) -> None:
    live.send("POST", "bob", title="bob's")  # event 1 is bob's

    with live.stream("alice", last_event_id=1) as stream:
        resync = stream.next()

    assert resync is not None and resync.event == "resync"


def test_stream_needs_a_token_of_the_path_owner(live: LiveServer) -> None:
    url = live.events_url("alice")

    missing = httpx.get(url)
    foreign = httpx.get(url, headers=live.headers("bob"))

    assert (missing.status_code, missing.json()) == (
        401,
        {"detail": "Missing Authorization header; send 'Authorization: Bearer <token>'"},
    )
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert (foreign.status_code, foreign.json()) == (
        403,
        {"detail": "Token does not belong to this user"},
    )


def test_malformed_last_event_id_is_a_422_naming_the_header(live: LiveServer) -> None:
    headers = live.headers("alice") | {"Last-Event-ID": "abc"}

    response = httpx.get(live.events_url("alice"), headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


def test_streams_beyond_the_users_cap_are_refused_until_one_closes(serve: ServeApp) -> None:
    with serve(streams_per_user=1) as live:
        with live.stream("alice"):
            refused = httpx.get(live.events_url("alice"), headers=live.headers("alice"))
            with live.stream("bob"):
                pass  # another user's streams count separately
        with live.stream("alice") as again:  # the closed stream gave its place back
            live.send("POST", "alice", title="t")
            [event] = again.events(1)

    assert (refused.status_code, refused.json()) == (
        429,
        {
            "detail": "Too many open event streams for this user (at most 1 per server "
            "process); close one, such as another tab's, and retry"
        },
    )
    assert refused.headers["Retry-After"] == "5"
    assert event.event == "created"


def test_streams_beyond_the_workers_cap_are_refused(serve: ServeApp) -> None:
    with serve(streams_per_worker=1) as live, live.stream("alice"):
        refused = httpx.get(live.events_url("bob"), headers=live.headers("bob"))

    assert (refused.status_code, refused.json()) == (
        429,
        {"detail": "Server has too many open event streams; retry shortly"},
    )
    assert refused.headers["Retry-After"] == "5"


def test_stream_ends_when_the_token_expires(serve: ServeApp) -> None:
    with (
        serve(stream_heartbeat_seconds=0.2) as live,
        live.stream("alice", expires_in=2) as stream,
    ):
        messages = [stream.next()]  # keep-alives until the expiry
        while messages[-1] is not None and messages[-1].comment == "keep-alive":
            messages.append(stream.next())
        messages.append(stream.next())

    *kept_alive, expired, end = messages
    assert kept_alive and all(m == Message(comment="keep-alive") for m in kept_alive)
    assert expired == Message(
        event="token-expired",
        data=json.dumps({"detail": "Token has expired; reconnect with a fresh token"}),
    )
    assert end is None


def test_a_reader_too_far_behind_is_told_to_resync(serve: ServeApp, sql: SqlConnection) -> None:
    with serve(stream_queue_size=2) as live, live.stream("alice") as stream:
        # Fifty changes committed at once reach the worker in one burst, faster than the
        # stream can take them from its queue of two.
        with sql.transaction():
            for number in range(50):
                values = {"title": f"t{number}", "description": None, "now": utc_now()}
                sql.execute(_WRITE, values | {"owner": "alice"})
        messages = []
        while (message := stream.next()) is not None:
            messages.append(message)

    *relayed, resync = messages
    assert [m.id for m in relayed] == list(range(1, len(relayed) + 1))
    assert len(relayed) < 50
    assert resync == Message(
        event="resync",
        data=json.dumps(
            {"detail": "The stream fell too far behind; reload the task list, then reconnect"}
        ),
    )


def test_streams_resync_when_the_listener_loses_its_connection(
    live: LiveServer, sql: SqlConnection
) -> None:
    with live.stream("alice") as stream:
        sql.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (LISTENER_NAME,),
        )
        resync, end = stream.next(), stream.next()
    with live.stream("alice") as again:  # the listener reconnects for the next stream
        created = live.send("POST", "alice", title="after").json()
        [event] = again.events(1)

    assert resync == _resync(
        "The server lost its database connection; reload the task list, then reconnect"
    )
    assert end is None
    assert json.loads(event.data or "") == created


def _listeners(sql: SqlConnection) -> int:
    row = sql.execute(
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()",
        (LISTENER_NAME,),
        prepare=False,  # polled: psycopg would prepare it, which PgBouncer's pooling loses
    ).fetchone()
    return int(row["n"]) if row else 0


def test_the_listener_closes_once_no_stream_is_left_and_returns_for_the_next(
    serve: ServeApp, sql: SqlConnection
) -> None:
    with serve(stream_heartbeat_seconds=1.0) as live:
        with live.stream("alice"):
            listening = _listeners(sql)
        # Within the heartbeat interval the listener waits for a reconnecting client.
        lingering = _listeners(sql)
        deadline = time.monotonic() + READ_SECONDS
        while _listeners(sql) and time.monotonic() < deadline:
            time.sleep(0.05)
        released = _listeners(sql)
        with live.stream("alice") as again:
            created = live.send("POST", "alice", title="after").json()
            [event] = again.events(1)

    assert (listening, lingering, released) == (1, 1, 0)
    assert json.loads(event.data or "") == created


def test_an_event_too_large_to_announce_arrives_whole(live: LiveServer) -> None:
    user = "ü" * 200
    with live.stream(user) as stream:
        created = live.send("POST", user, title="\x01" * 200, description="\x01" * 1000)
        [event] = stream.events(1)

    assert json.loads(event.data or "") == created.json()


def test_events_after_one_too_large_to_announce_keep_their_order(live: LiveServer) -> None:
    user = "ü" * 200
    with live.stream(user) as stream:
        large = live.send("POST", user, title="\x01" * 200, description="\x01" * 1000).json()
        small = live.send("POST", user, title="b").json()
        events = stream.events(2)

    assert [json.loads(e.data or "") for e in events] == [large, small]


def test_events_that_arrive_while_the_listener_checks_its_connection_all_arrive(
    serve: ServeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No pause between the listener's connection checks: most notifications then arrive while
    # its check query runs, and psycopg, not the listener's own reading, takes them in.
    monkeypatch.setattr(event_hub, "_PING_SECONDS", 0.0)
    with serve() as live, live.stream("alice") as stream:
        created = [live.send("POST", "alice", title=f"t{n}").json() for n in range(20)]
        events = stream.events(20)

    assert [json.loads(e.data or "") for e in events] == created
