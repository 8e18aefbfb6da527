"""GET /api/{user_id}/tasks: filters, search, ordering, pages and their headers."""

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders, SqlConnection

CreateTask = Callable[..., dict[str, object]]
ALICE = "/api/alice/tasks"


@pytest.fixture
def alice(auth_headers: AuthHeaders) -> dict[str, str]:
    return auth_headers("alice")


def _ids(response_json: list[dict[str, object]]) -> list[object]:
    return [task["id"] for task in response_json]


def test_list_without_params_is_newest_first_with_total(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    ids = [create_task("alice", title=f"t{n}")["id"] for n in range(3)]

    response = client.get(ALICE, headers=alice)

    assert response.status_code == 200
    assert _ids(response.json()) == ids[::-1]
    assert response.headers["X-Total-Count"] == "3"
    assert "Link" not in response.headers


@pytest.mark.parametrize(("value", "expected"), [("true", [1]), ("false", [2, 0])])
def test_list_filters_by_completed(
    client: TestClient,
    alice: dict[str, str],
    create_task: CreateTask,
    value: str,
    expected: list[int],
) -> None:
    ids = [create_task("alice", title=f"t{n}")["id"] for n in range(3)]
    client.patch(f"{ALICE}/{ids[1]}", json={"completed": True}, headers=alice)

    response = client.get(ALICE, params={"completed": value}, headers=alice)

    assert _ids(response.json()) == [ids[n] for n in expected]
    assert response.headers["X-Total-Count"] == str(len(expected))


def test_list_search_ignores_case_in_title_and_description(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    in_title = create_task("alice", title="Buy MILK")["id"]
    in_description = create_task("alice", title="Shop", description="oat milk too")["id"]
    create_task("alice", title="Walk the dog")

    response = client.get(ALICE, params={"q": "Milk"}, headers=alice)

    assert _ids(response.json()) == [in_description, in_title]


@pytest.mark.parametrize(
    ("search", "matching_title"),
    [("%", "100% done"), ("_", "snake_case"), ("\\", "back\\slash"), ("/", "a/b")],
    ids=["percent", "underscore", "backslash", "slash"],
)
def test_list_search_wildcards_are_literal(
    client: TestClient,
    alice: dict[str, str],
    create_task: CreateTask,
    search: str,
    matching_title: str,
) -> None:
    for title in ("100% done", "snake_case", "back\\slash", "a/b", "plain"):
        create_task("alice", title=title)

    response = client.get(ALICE, params={"q": search}, headers=alice)

    assert [task["title"] for task in response.json()] == [matching_title]


def test_list_blank_search_is_no_filter(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    create_task("alice")

    response = client.get(f"{ALICE}?q=", headers=alice)

    assert response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "title", "order": "asc"}, ["apple", "Banana", "cherry"]),
        ({"sort": "title", "order": "desc"}, ["cherry", "Banana", "apple"]),
        ({"sort": "created_at", "order": "asc"}, ["cherry", "apple", "Banana"]),
        ({"sort": "updated_at", "order": "desc"}, ["cherry", "Banana", "apple"]),
        ({"sort": "updated_at", "order": "asc"}, ["apple", "Banana", "cherry"]),
    ],
    ids=lambda value: str(value),
)
def test_list_orders_by_requested_field(
    client: TestClient,
    alice: dict[str, str],
    create_task: CreateTask,
    params: dict[str, str],
    expected: list[str],
) -> None:
    ids = {
        title: create_task("alice", title=title)["id"] for title in ("cherry", "apple", "Banana")
    }
    for title in ("apple", "Banana", "cherry"):  # updated in this order
        client.patch(f"{ALICE}/{ids[title]}", json={"completed": False}, headers=alice)

    response = client.get(ALICE, params=params, headers=alice)

    assert [task["title"] for task in response.json()] == expected


def test_list_equal_sort_keys_break_ties_by_id(
    client: TestClient, alice: dict[str, str], create_task: CreateTask, sql: SqlConnection
) -> None:
    ids = [create_task("alice", title="same")["id"] for _ in range(3)]
    sql.execute("UPDATE tasks SET created_at = (SELECT MIN(created_at) FROM tasks)")

    newest = client.get(ALICE, headers=alice).json()
    oldest = client.get(ALICE, params={"order": "asc"}, headers=alice).json()
    by_title = client.get(ALICE, params={"sort": "title", "order": "asc"}, headers=alice).json()

    assert (_ids(newest), _ids(oldest), _ids(by_title)) == (ids[::-1], ids, ids)


def test_list_pages_with_links_that_keep_other_params(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    ids = [create_task("alice", title=f"milk {n}")["id"] for n in range(5)]
    newest_first = ids[::-1]

    first = client.get(ALICE, params={"q": "milk", "limit": 2}, headers=alice)
    middle = client.get(ALICE, params={"q": "milk", "limit": 2, "offset": 2}, headers=alice)
    last = client.get(ALICE, params={"q": "milk", "limit": 2, "offset": 4}, headers=alice)

    assert [_ids(page.json()) for page in (first, middle, last)] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert {page.headers["X-Total-Count"] for page in (first, middle, last)} == {"5"}
    assert first.headers["Link"] == '</api/alice/tasks?q=milk&limit=2&offset=2>; rel="next"'
    assert middle.headers["Link"] == (
        '</api/alice/tasks?q=milk&limit=2&offset=4>; rel="next", '
        '</api/alice/tasks?q=milk&limit=2&offset=0>; rel="prev"'
    )
    assert last.headers["Link"] == '</api/alice/tasks?q=milk&limit=2&offset=2>; rel="prev"'


def test_list_link_follows_to_the_next_page(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    for n in range(3):
        create_task("alice", title=f"t{n}")
    first = client.get(ALICE, params={"limit": 2, "sort": "title", "order": "asc"}, headers=alice)
    next_url = first.headers["Link"].split(">")[0].lstrip("<")

    second = client.get(next_url, headers=alice)

    assert [task["title"] for task in second.json()] == ["t2"]


@pytest.mark.parametrize("user", ["Zoë", "用户 one", "a+b@x.io", "100%"])
def test_list_link_for_opaque_user_id_is_percent_encoded_and_followable(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask, user: str
) -> None:
    for n in range(2):
        create_task(user, title=f"t{n}")
    headers = auth_headers(user)
    first = client.get(f"/api/{user}/tasks", params={"limit": 1}, headers=headers)
    next_url = first.headers["Link"].split(">")[0].lstrip("<")

    second = client.get(next_url, headers=headers)

    assert next_url.isascii()
    assert next_url.startswith(f"/api/{quote(user, safe='')}/tasks?")
    assert [task["title"] for task in second.json()] == ["t0"]


@pytest.mark.parametrize(
    "user", ["line\nbreak", "tab\there", "carriage\rreturn"], ids=["lf", "tab", "cr"]
)
def test_list_link_keeps_control_characters_of_the_user_id(
    client: TestClient, auth_headers: AuthHeaders, user: str
) -> None:
    path, headers = f"/api/{quote(user, safe='')}/tasks", auth_headers(user)
    for n in range(2):
        assert client.post(path, json={"title": f"t{n}"}, headers=headers).status_code == 201

    first = client.get(path, params={"limit": 1}, headers=headers)
    next_url = first.headers["Link"].split(">")[0].lstrip("<")
    second = client.get(next_url, headers=headers)

    assert next_url == f"{path}?limit=1&offset=1"
    assert [task["title"] for task in second.json()] == ["t0"]


def test_list_offset_past_the_end_is_empty_with_prev_to_last_page(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    for n in range(3):
        create_task("alice", title=f"t{n}")

    response = client.get(ALICE, params={"limit": 2, "offset": 10}, headers=alice)

    assert response.json() == []
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["Link"] == '</api/alice/tasks?limit=2&offset=1>; rel="prev"'


def test_list_full_last_page_counts_and_has_no_next(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    for n in range(4):
        create_task("alice", title=f"t{n}")

    response = client.get(ALICE, params={"limit": 2, "offset": 2}, headers=alice)

    assert response.headers["X-Total-Count"] == "4"
    assert 'rel="next"' not in response.headers["Link"]


def test_list_counts_and_searches_only_the_callers_tasks(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    create_task("alice", title="milk")
    for _ in range(3):
        create_task("bob", title="milk")

    response = client.get(ALICE, params={"q": "milk", "limit": 1}, headers=auth_headers("alice"))

    assert [task["user_id"] for task in response.json()] == ["alice"]
    assert response.headers["X-Total-Count"] == "1"
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**31}, "offset"),
        ({"sort": "user_id"}, "sort"),
        ({"order": "up"}, "order"),
        ({"completed": "maybe"}, "completed"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "a\x00b"}, "q"),
    ],
    ids=lambda value: str(value)[:24],
)
def test_list_invalid_params_return_422_naming_them(
    client: TestClient, alice: dict[str, str], params: dict[str, object], field: str
) -> None:
    response = client.get(ALICE, params=params, headers=alice)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_list_accepts_the_maximum_limit(client: TestClient, alice: dict[str, str]) -> None:
    response = client.get(ALICE, params={"limit": 1000, "offset": 2**31 - 1}, headers=alice)

    assert response.status_code == 200
    assert response.json() == []


def test_list_unknown_params_are_ignored(client: TestClient, alice: dict[str, str]) -> None:
    response = client.get(ALICE, params={"_": "1700000000"}, headers=alice)

    assert response.status_code == 200


def test_unfiltered_total_follows_creates_and_deletes_of_each_user_alone(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    alice_ids = [create_task("alice", title=f"a{n}")["id"] for n in range(5)]
    for n in range(3):
        create_task("bob", title=f"b{n}")
    for task_id in alice_ids[:2]:
        client.delete(f"{ALICE}/{task_id}", headers=auth_headers("alice"))
    # Someone else's task is a 404 and changes no count.
    client.delete(f"/api/bob/tasks/{alice_ids[2]}", headers=auth_headers("bob"))

    totals = {
        user: client.get(
            f"/api/{user}/tasks", params={"limit": 1}, headers=auth_headers(user)
        ).headers["X-Total-Count"]
        for user in ("alice", "bob", "carol")
    }

    # Full pages of one: each total is the owner's count, read from task_counts.
    assert totals == {"alice": "3", "bob": "3", "carol": "0"}


def test_unfiltered_total_counts_rows_written_outside_the_service(
    client: TestClient, sql: SqlConnection, alice: dict[str, str], create_task: CreateTask
) -> None:
    create_task("alice")
    # Triggers keep the count, so a row written by hand (a migration, psql) is counted too.
    sql.execute(
        "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
        " VALUES ('alice', 'by hand', false, %(now)s, %(now)s)",
        {"now": datetime.now(UTC)},
    )

    response = client.get(ALICE, params={"limit": 1}, headers=alice)

    assert response.headers["X-Total-Count"] == "2"


def test_list_items_are_byte_for_byte_the_tasks_get_returns(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    created = create_task("alice", description="Two litres")
    done = create_task("alice", title="Paid", description=None)
    client.patch(f"{ALICE}/{done['id']}", json={"completed": True}, headers=alice)

    listed = client.get(ALICE, headers=alice)
    ones = [client.get(f"{ALICE}/{task['id']}", headers=alice) for task in (done, created)]

    assert listed.content == b"[" + b",".join(one.content for one in ones) + b"]"
    assert listed.json()[1] == created
