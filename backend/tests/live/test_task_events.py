"""GET /api/{user_id}/tasks/events: each change of the caller's tasks, live, in order, resumable."""

import json

from tests.live.conftest import LiveServer, Message


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

    assert resync == Message(
        event="resync",
        data=json.dumps(
            {
                "detail": "Events after Last-Event-ID are no longer all stored; "
                "reload the task list, then reconnect"
            }
        ),
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
