"""POST with an Idempotency-Key: one task per key and body, per user, for 24 hours."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from src.models.task import utc_now
from src.services.task_service import KEY_TTL
from tests.conftest import AuthHeaders, SqlConnection

ALICE = "/api/alice/tasks"
BODY = {"title": "Buy milk", "description": "2L"}


@pytest.fixture
def alice(auth_headers: AuthHeaders) -> dict[str, str]:
    return auth_headers("alice")


def _keyed(headers: dict[str, str], key: str = "key-1") -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


def _task_count(sql: SqlConnection) -> int:
    [row] = sql.execute("SELECT count(*) AS n FROM tasks").fetchall()
    return int(row["n"])


def test_retry_with_same_key_and_body_replays_the_original_201(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice))

    retry = client.post(ALICE, json=BODY, headers=_keyed(alice))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert (first.headers.get("Idempotent-Replayed"), retry.headers["Idempotent-Replayed"]) == (
        None,
        "true",
    )
    assert _task_count(sql) == 1


def test_retry_with_reordered_keys_and_padded_title_is_the_same_request(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice))

    retry = client.post(
        ALICE, json={"description": "2L", "title": "  Buy milk "}, headers=_keyed(alice)
    )

    assert retry.json()["id"] == first.json()["id"]
    assert _task_count(sql) == 1


def test_same_key_with_different_body_returns_422_and_creates_nothing(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    client.post(ALICE, json=BODY, headers=_keyed(alice))

    response = client.post(ALICE, json={"title": "Buy bread"}, headers=_keyed(alice))

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "idempotency_key_reused",
                "loc": ["header", "idempotency-key"],
                "msg": "Idempotency-Key was already used with a different request body; "
                "send a new key for a new task",
            }
        ]
    }
    assert _task_count(sql) == 1


def test_different_keys_create_different_tasks(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice, "a"))
    second = client.post(ALICE, json=BODY, headers=_keyed(alice, "b"))

    assert first.json()["id"] != second.json()["id"]
    assert _task_count(sql) == 2


def test_creates_without_a_key_are_never_deduplicated(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    client.post(ALICE, json=BODY, headers=alice)
    client.post(ALICE, json=BODY, headers=alice)

    assert _task_count(sql) == 2


def test_keys_are_scoped_per_user(
    client: TestClient, auth_headers: AuthHeaders, sql: SqlConnection
) -> None:
    mine = client.post(ALICE, json=BODY, headers=_keyed(auth_headers("alice")))

    theirs = client.post("/api/bob/tasks", json=BODY, headers=_keyed(auth_headers("bob")))

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert (theirs.json()["user_id"], mine.json()["user_id"]) == ("bob", "alice")
    assert _task_count(sql) == 2


def test_retry_after_the_task_changed_or_was_deleted_replays_the_original(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice))
    url = first.headers["Location"]
    client.patch(url, json={"completed": True}, headers=alice)
    client.delete(url, headers=alice)

    retry = client.post(ALICE, json=BODY, headers=_keyed(alice))

    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert client.get(url, headers=alice).status_code == 404


def test_expired_key_is_ignored_and_purged(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice))
    _age_keys(sql, "alice", KEY_TTL + timedelta(seconds=1))

    again = client.post(ALICE, json={"title": "other"}, headers=_keyed(alice))

    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    records = sql.execute("SELECT task_id FROM idempotency_keys").fetchall()
    assert records == [{"task_id": again.json()["id"]}]


def test_key_just_inside_ttl_is_still_replayed(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice))
    _age_keys(sql, "alice", KEY_TTL - timedelta(minutes=1))

    retry = client.post(ALICE, json=BODY, headers=_keyed(alice))

    assert retry.json()["id"] == first.json()["id"]


def test_keyed_create_purges_only_the_callers_expired_keys(
    client: TestClient, auth_headers: AuthHeaders, sql: SqlConnection
) -> None:
    for user, key in (("alice", "old"), ("bob", "old")):
        client.post(f"/api/{user}/tasks", json=BODY, headers=_keyed(auth_headers(user), key))
    for user in ("alice", "bob"):
        _age_keys(sql, user, KEY_TTL * 2)

    client.post(ALICE, json=BODY, headers=_keyed(auth_headers("alice"), "new"))

    remaining = sql.execute("SELECT user_id, key FROM idempotency_keys ORDER BY user_id, key")
    assert remaining.fetchall() == [
        {"user_id": "alice", "key": "new"},
        {"user_id": "bob", "key": "old"},
    ]


def test_non_ascii_header_is_echoed_in_the_422_as_the_client_sent_it(
    client: TestClient, alice: dict[str, str]
) -> None:
    headers: dict[str, str | bytes] = {**alice, "Idempotency-Key": "caf\u00e9".encode()}

    response = client.post(ALICE, json=BODY, headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["input"] == "caf\u00e9"


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "caf\u00e9", "tab\there"],
    ids=["empty", "too-long", "non-ascii", "control-char"],
)
def test_invalid_idempotency_key_returns_422_naming_the_header(
    client: TestClient, alice: dict[str, str], sql: SqlConnection, key: str
) -> None:
    # Bytes, because httpx refuses non-ASCII text headers; they reach the server as sent.
    headers: dict[str, str | bytes] = {**alice, "Idempotency-Key": key.encode("latin-1")}

    response = client.post(ALICE, json=BODY, headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert _task_count(sql) == 0


@pytest.mark.parametrize("key", ["k" * 255, "a b ~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}"])
def test_longest_and_punctuated_keys_are_accepted(
    client: TestClient, alice: dict[str, str], key: str
) -> None:
    first = client.post(ALICE, json=BODY, headers=_keyed(alice, key))
    retry = client.post(ALICE, json=BODY, headers=_keyed(alice, key))

    assert (first.status_code, retry.json()["id"]) == (201, first.json()["id"])


def test_invalid_body_with_a_key_returns_422_and_records_no_key(
    client: TestClient, alice: dict[str, str], sql: SqlConnection
) -> None:
    invalid = client.post(ALICE, json={"title": ""}, headers=_keyed(alice))
    recorded = sql.execute("SELECT key FROM idempotency_keys").fetchall()

    response = client.post(ALICE, json=BODY, headers=_keyed(alice))

    assert (invalid.status_code, recorded) == (422, [])
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def _age_keys(sql: SqlConnection, user_id: str, age: timedelta) -> None:
    sql.execute(
        "UPDATE idempotency_keys SET created_at = %(at)s WHERE user_id = %(user)s",
        {"at": utc_now() - age, "user": user_id},
    )
