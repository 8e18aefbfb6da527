"""The launcher's command line: the bounds it owns cannot be dropped by a caller's option."""

import pytest

from src.config import Settings
from src.server import APP, PROTOCOL, uvicorn_arguments
from tests.conftest import TEST_SECRET


def _settings() -> Settings:
    return Settings(better_auth_secret=TEST_SECRET, shutdown_timeout_seconds=7)


def test_uvicorn_arguments_pass_options_through_and_set_protocol_and_shutdown_bound() -> None:
    arguments = uvicorn_arguments(["--port", "9000", "--workers", "2"], _settings())

    assert arguments == [
        APP,
        *("--port", "9000", "--workers", "2"),
        *("--http", PROTOCOL, "--timeout-graceful-shutdown", "7"),
    ]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--http=h11", "--http is set by python -m src.server: it bounds request headers"),
        (
            "--timeout-graceful-shutdown",
            "--timeout-graceful-shutdown is set by python -m src.server: "
            "set SHUTDOWN_TIMEOUT_SECONDS instead",
        ),
    ],
    ids=["http", "timeout-graceful-shutdown"],
)
def test_uvicorn_arguments_with_an_option_the_launcher_owns_exit_with_why(
    option: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        uvicorn_arguments([option, "2"], _settings())

    assert str(exit_info.value).startswith(message)
