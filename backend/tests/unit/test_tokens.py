"""`make token`: the CLI mints a token the configured service accepts."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from pydantic import SecretStr

from src.config import Settings, get_settings
from src.main import create_app
from src.middleware.jwt import ALGORITHM
from src.tokens import create_token, main

BACKEND_DIR = Path(__file__).resolve().parents[2]
CLI_SECRET = "cli-secret-for-token-tests-only-0123456789"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment `make token` reads; set here so a developer's .env cannot leak in."""
    # The environment wins over .env, and an empty value means "not configured".
    monkeypatch.setenv("BETTER_AUTH_SECRET", CLI_SECRET)
    monkeypatch.setenv("JWT_ISSUER", "")
    monkeypatch.setenv("JWT_AUDIENCE", "")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _printed_token(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    main(argv)
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out.removesuffix("\n")


def test_main_prints_token_signed_with_configured_secret(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _printed_token(capsys, ["alice"])

    claims = jwt.decode(token, CLI_SECRET, algorithms=[ALGORITHM])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 60 * 60
    assert "iss" not in claims
    assert "aud" not in claims


def test_main_minutes_sets_lifetime(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _printed_token(capsys, ["alice", "--minutes", "5"])

    claims = jwt.decode(token, CLI_SECRET, algorithms=[ALGORITHM])
    assert claims["exp"] - claims["iat"] == 5 * 60


def test_main_with_issuer_and_audience_configured_carries_both(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.setenv("JWT_ISSUER", "https://auth.example.com")
    cli_env.setenv("JWT_AUDIENCE", "task-api")

    token = _printed_token(capsys, ["ann@example.com"])

    claims = jwt.decode(
        token,
        CLI_SECRET,
        algorithms=[ALGORITHM],
        issuer="https://auth.example.com",
        audience="task-api",
    )
    assert claims["sub"] == "ann@example.com"
    assert claims["iss"] == "https://auth.example.com"
    assert claims["aud"] == "task-api"


def test_main_token_is_accepted_by_app_configured_the_same_way(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    cli_env.setenv("JWT_ISSUER", "https://auth.example.com")
    cli_env.setenv("JWT_AUDIENCE", "task-api")
    token = _printed_token(capsys, ["alice"])
    configured = settings.model_copy(
        update={
            "better_auth_secret": SecretStr(CLI_SECRET),
            "jwt_issuer": "https://auth.example.com",
            "jwt_audience": "task-api",
        }
    )

    with TestClient(create_app(configured)) as client:
        response = client.get("/api/alice/tasks", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json() == []


def test_create_token_claims_add_and_override_defaults() -> None:
    token = create_token("alice", CLI_SECRET, expires_in=600, iat=1_000, role="admin")

    claims = jwt.decode(
        token,
        CLI_SECRET,
        algorithms=[ALGORITHM],
        options={"verify_iat": False, "verify_exp": False},
    )
    assert claims["sub"] == "alice"
    assert claims["iat"] == 1_000
    assert claims["role"] == "admin"


def test_create_token_claims_can_replace_subject() -> None:
    token = create_token("alice", CLI_SECRET, sub="bob")

    assert jwt.decode(token, CLI_SECRET, algorithms=[ALGORITHM])["sub"] == "bob"


def test_module_run_as_script_prints_only_the_token() -> None:
    env = {
        "PYTHONPATH": str(BACKEND_DIR),
        "BETTER_AUTH_SECRET": CLI_SECRET,
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
    }
    result = subprocess.run(  # fixed argv, our own interpreter: what `make token` runs
        [sys.executable, "-m", "src.tokens", "alice"],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert jwt.decode(token, CLI_SECRET, algorithms=[ALGORITHM])["sub"] == "alice"
