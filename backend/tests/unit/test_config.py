"""Settings: validation at start-up, environment over .env."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from src.config import PLACEHOLDER_SECRET, Settings, explained

BACKEND_DIR = Path(__file__).resolve().parents[2]
LONG_SECRET = "s" * 32


def _settings(**values: object) -> Settings:
    # model_validate reads no environment and no .env: only what the test hands in.
    return Settings.model_validate(values)


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        _settings(better_auth_secret="s" * 31)


def test_example_placeholder_secret_is_rejected() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        _settings(better_auth_secret=PLACEHOLDER_SECRET)


def test_env_example_ships_the_rejected_placeholder() -> None:
    example = (BACKEND_DIR.parent / ".env.example").read_text()

    assert f"BETTER_AUTH_SECRET={PLACEHOLDER_SECRET}\n" in example


def test_cors_origins_split_on_commas() -> None:
    settings = _settings(
        better_auth_secret=LONG_SECRET, cors_origins=" http://a.test/, http://b.test ,"
    )

    assert settings.cors_origins == ["http://a.test", "http://b.test"]


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"BETTER_AUTH_SECRET={'f' * 40}\nLOG_LEVEL=debug\nJWT_ISSUER=\n")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.delenv("BETTER_AUTH_SECRET", raising=False)

    settings = Settings(_env_file=env_file)

    assert settings.better_auth_secret.get_secret_value() == "f" * 40
    assert settings.log_level == "WARNING"
    assert settings.jwt_issuer is None


def test_secret_never_appears_in_repr() -> None:
    assert LONG_SECRET not in repr(_settings(better_auth_secret=LONG_SECRET))


@pytest.mark.parametrize("leeway", [-1, 61])
def test_leeway_outside_zero_to_sixty_is_rejected(leeway: int) -> None:
    with pytest.raises(ValidationError, match="jwt_leeway_seconds"):
        _settings(better_auth_secret=LONG_SECRET, jwt_leeway_seconds=leeway)


def test_app_without_secret_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(  # fixed argv, our own interpreter
        [sys.executable, "-c", "import src.main"],
        cwd=BACKEND_DIR,
        env={"PYTHONPATH": str(BACKEND_DIR), "BETTER_AUTH_SECRET": "short"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Configuration error: BETTER_AUTH_SECRET: Value error, "
        "BETTER_AUTH_SECRET must be at least 32 bytes"
    )


def test_jwks_and_log_settings_default_to_off_and_text() -> None:
    settings = _settings(better_auth_secret=LONG_SECRET, jwt_jwks_url="", log_format="JSON")

    assert (settings.jwt_jwks_url, settings.log_format) == (None, "json")
    assert _settings(better_auth_secret=LONG_SECRET).log_format == "text"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("jwt_jwks_url", "localhost:3000/api/auth/jwks", "JWT_JWKS_URL must be an http"),
        ("jwt_jwks_url", "file:///etc/passwd", "JWT_JWKS_URL must be an http"),
        ("jwt_jwks_timeout_seconds", 0, "greater than 0"),
        ("jwt_jwks_timeout_seconds", 31, "less than or equal to 30"),
        ("jwt_jwks_cache_seconds", -1, "greater than or equal to 0"),
        ("jwt_jwks_min_refetch_seconds", -0.5, "greater than or equal to 0"),
        ("log_format", "xml", "log_format"),
    ],
)
def test_invalid_jwks_and_log_settings_are_rejected(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _settings(better_auth_secret=LONG_SECRET, **{field: value})


def test_stale_keys_are_trusted_for_an_hour_by_default() -> None:
    assert _settings(better_auth_secret=LONG_SECRET).jwt_jwks_stale_seconds == 3600


def test_stale_limit_below_the_cache_time_stops_start_up_with_one_line() -> None:
    def load() -> Settings:
        return _settings(
            better_auth_secret=LONG_SECRET, jwt_jwks_cache_seconds=600, jwt_jwks_stale_seconds=300
        )

    with pytest.raises(SystemExit) as exit_:
        explained(load)

    assert str(exit_.value) == (
        "Configuration error: JWT_JWKS_STALE_SECONDS: Value error, "
        "JWT_JWKS_STALE_SECONDS must be at least JWT_JWKS_CACHE_SECONDS (600)"
    )


@pytest.mark.parametrize("limit", [0, -1])
def test_body_limit_below_one_byte_is_rejected(limit: int) -> None:
    with pytest.raises(ValidationError, match="max_body_bytes"):
        _settings(better_auth_secret=LONG_SECRET, max_body_bytes=limit)
