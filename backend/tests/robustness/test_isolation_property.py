"""Isolation as a property: random call sequences by several users, checked against a model.

Every answer is compared with an in-memory model of who owns what: a user never sees, changes
or deletes another user's task, and each status code is exactly the expected one. Budget:
HYPOTHESIS_EXAMPLES sequences (default 200) of up to HYPOTHESIS_STEPS calls each, per database.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from src.config import Settings
from src.main import create_app
from tests.conftest import SqlConnection, make_token
from tests.robustness.conftest import TALLY, budget

# Ids a real identity provider hands out: emails, dots, unicode, and characters that mean
# something in a URL. Never "/": the router decodes %2F before matching, so no route could hold it.
# No "%" followed by two hex digits either: TestClient unquotes the already-decoded path a second
# time (the real-server tests in test_concurrency.py cover such ids).
USERS = (
    "alice",
    "bob@example.com",
    "j.doe",
    "zoë-用户-🚀",
    "a b+c&d=e?f#g;h",
    "50%off",
    "עברית",
)
NOT_YOURS = {"detail": "Token does not belong to this user"}
NOT_FOUND = {"detail": "Task not found"}
# Ids no sequence ever creates, at and past the column's range.
FOREIGN_IDS = st.sampled_from([0, 2**31 - 1, 2**31, 2**63, 10**19])

users = st.sampled_from(USERS)
# Spaces inside and around, so the model must trim exactly as the service does.
_chars = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")) | st.just(
    " "
)
titles = st.text(_chars, max_size=30)
descriptions = st.none() | st.text(_chars, max_size=40)


@dataclass(frozen=True)
class ModelTask:
    owner: str
    title: str
    description: str | None
    completed: bool
    updated_at: datetime


def _url(user: str, task_id: int | None = None) -> str:
    base = f"/api/{quote(user, safe='')}/tasks"
    return base if task_id is None else f"{base}/{task_id}"


class IsolationMachine(RuleBasedStateMachine):
    """One sequence of calls; `client` and `sql` are set on a subclass per database."""

    client: TestClient
    sql: SqlConnection
    task_ids = Bundle("task_ids")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[int, ModelTask] = {}
        self.owners: dict[int, str] = {}  # every task ever created, deleted ones too
        self._headers = {user: {"Authorization": f"Bearer {make_token(user)}"} for user in USERS}

    @initialize()
    def empty_database(self) -> None:
        # Each sequence starts from an empty table, so the model is the whole truth.
        self.sql.execute("DELETE FROM tasks")
        self.sql.execute("DELETE FROM task_events")

    @rule(target=task_ids, user=users, title=titles, description=descriptions)
    def create(self, user: str, title: str, description: str | None) -> object:
        body = {"title": title, "description": description}
        response = self._send("POST", user, _url(user), body)

        if not title.strip():
            assert response.status_code == 422, response.text
            return multiple()  # nothing was created, so no id joins the bundle
        assert response.status_code == 201, response.text
        task = response.json()
        assert response.headers["Location"] == _url(user, task["id"])
        assert task["id"] not in self.model
        self.owners[task["id"]] = user
        self.model[task["id"]] = ModelTask(
            user, title.strip(), description, False, datetime.fromisoformat(task["updated_at"])
        )
        self._assert_matches(task)
        return int(task["id"])

    @rule(user=users)
    def list_own(self, user: str) -> None:
        response = self._send("GET", user, _url(user))

        assert response.status_code == 200, response.text
        listed = response.json()
        owned = sorted((i for i, t in self.model.items() if t.owner == user), reverse=True)
        assert [task["id"] for task in listed] == owned
        for task in listed:
            self._assert_matches(task)

    @rule(user=users, task_id=task_ids | FOREIGN_IDS)
    def read(self, user: str, task_id: int) -> None:
        response = self._send("GET", user, _url(user, task_id))

        self._assert_owner_only(user, task_id, response.status_code, response.json())
        if response.status_code == 200:
            self._assert_matches(response.json())

    @rule(user=users, task_id=task_ids | FOREIGN_IDS, title=titles, description=descriptions)
    def replace(self, user: str, task_id: int, title: str, description: str | None) -> None:
        body = {"title": title, "description": description}
        response = self._send("PUT", user, _url(user, task_id), body)

        if not title.strip():
            # The body is checked before the owner: an invalid one is a 422 for any task.
            assert response.status_code == 422, response.text
            return
        self._assert_owner_only(user, task_id, response.status_code, response.json())
        if response.status_code == 200:
            changed = replace(self.model[task_id], title=title.strip(), description=description)
            self._apply(task_id, response.json(), changed)

    @rule(user=users, task_id=task_ids | FOREIGN_IDS, completed=st.booleans())
    def set_completed(self, user: str, task_id: int, completed: bool) -> None:
        body = {"completed": completed}
        response = self._send("PATCH", user, _url(user, task_id), body)

        self._assert_owner_only(user, task_id, response.status_code, response.json())
        if response.status_code == 200:
            self._apply(task_id, response.json(), replace(self.model[task_id], completed=completed))

    @rule(user=users, task_id=task_ids | FOREIGN_IDS)
    def delete(self, user: str, task_id: int) -> None:
        response = self._send("DELETE", user, _url(user, task_id))

        if self._owns(user, task_id):
            assert response.status_code == 204, response.text
            assert response.content == b""
            del self.model[task_id]
        else:
            assert (response.status_code, response.json()) == (404, NOT_FOUND)

    @rule(
        actor=users,
        victim=users,
        task_id=task_ids | FOREIGN_IDS,
        method=st.sampled_from(["GET", "POST", "GET-ONE", "PUT", "PATCH", "DELETE"]),
    )
    def trespass(self, actor: str, victim: str, task_id: int, method: str) -> None:
        if actor == victim:
            return
        bodies: dict[str, dict[str, object]] = {
            "POST": {"title": "planted"},
            "PUT": {"title": "hijacked"},
            "PATCH": {"completed": True},
        }
        url = _url(victim) if method in ("GET", "POST") else _url(victim, task_id)
        response = self._send(method.removesuffix("-ONE"), actor, url, bodies.get(method))

        # Refused on the path alone, whatever the task: nothing leaks, nothing changes.
        assert (response.status_code, response.json()) == (403, NOT_YOURS)

    def teardown(self) -> None:
        # The database holds exactly the model: nothing changed behind a 403 or a 404.
        for user in USERS:
            self.list_own(user)
        # The change feed, which each user's live stream replays, holds only their own tasks.
        for event in self.sql.execute("SELECT user_id, task_id, task FROM task_events"):
            assert self.owners[event["task_id"]] == event["user_id"], event
            assert event["task"] is None or event["task"]["user_id"] == event["user_id"], event
        TALLY["isolation sequences"] += 1

    def _send(
        self, method: str, caller: str, url: str, body: Mapping[str, object] | None = None
    ) -> Response:
        TALLY["isolation calls"] += 1
        response: Response = self.client.request(
            method, url, json=body, headers=self._headers[caller]
        )
        return response

    def _owns(self, user: str, task_id: int) -> bool:
        task = self.model.get(task_id)
        return task is not None and task.owner == user

    def _assert_owner_only(self, user: str, task_id: int, status: int, body: object) -> None:
        if self._owns(user, task_id):
            assert status == 200, body
        else:
            assert (status, body) == (404, NOT_FOUND)

    def _apply(self, task_id: int, body: dict[str, object], changed: ModelTask) -> None:
        updated_at = datetime.fromisoformat(str(body["updated_at"]))
        assert updated_at > self.model[task_id].updated_at
        self.model[task_id] = replace(changed, updated_at=updated_at)
        self._assert_matches(body)

    def _assert_matches(self, task: dict[str, object]) -> None:
        expected = self.model[int(str(task["id"]))]
        assert (task["user_id"], task["title"], task["description"], task["completed"]) == (
            expected.owner,
            expected.title,
            expected.description,
            expected.completed,
        )


def test_users_only_ever_reach_their_own_tasks(settings: Settings, sql: SqlConnection) -> None:
    with TestClient(create_app(settings)) as client:

        class Machine(IsolationMachine):
            pass

        Machine.client, Machine.sql = client, sql
        run_state_machine_as_test(
            Machine,
            settings=hypothesis_settings(
                hypothesis_settings.get_profile("robustness"),
                max_examples=budget("HYPOTHESIS_EXAMPLES", 200),
                stateful_step_count=budget("HYPOTHESIS_STEPS", 20),
            ),
        )
