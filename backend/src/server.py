"""`python -m src.server [uvicorn options]`: how every start path serves `src.main:app`.

`make run`, the Docker image, `make bench` and the served-process tests all start here, so what
the service needs from its server cannot drift between them: the request-head bound
(`src.http_protocol`, MAX_HEADER_BYTES / MAX_HEADER_COUNT) and the graceful-shutdown bound
(SHUTDOWN_TIMEOUT_SECONDS). Every other uvicorn option (`--host`, `--port`, `--workers`,
`--fd`, `--log-level`, ...) is passed through unchanged.
"""

import sys
from collections.abc import Sequence

from uvicorn.main import main as uvicorn_command

from src.config import Settings, explained, get_settings

APP = "src.main:app"
PROTOCOL = "src.http_protocol:BoundedHttpToolsProtocol"
# Options this module sets: another value would silently drop a bound.
_OWN_OPTIONS = {
    "--http": "it bounds request headers (MAX_HEADER_BYTES, MAX_HEADER_COUNT)",
    "--timeout-graceful-shutdown": "set SHUTDOWN_TIMEOUT_SECONDS instead",
}


def uvicorn_arguments(options: Sequence[str], settings: Settings) -> list[str]:
    """uvicorn's command line: the app, the caller's `options`, then the options set here."""
    for option in options:
        if (name := option.split("=", 1)[0]) in _OWN_OPTIONS:
            raise SystemExit(f"{name} is set by python -m src.server: {_OWN_OPTIONS[name]}")
    timeout = str(settings.shutdown_timeout_seconds)
    return [APP, *options, "--http", PROTOCOL, "--timeout-graceful-shutdown", timeout]


def main() -> None:
    arguments = uvicorn_arguments(sys.argv[1:], explained(get_settings))
    uvicorn_command.main(args=arguments, prog_name="python -m src.server")


if __name__ == "__main__":
    main()
