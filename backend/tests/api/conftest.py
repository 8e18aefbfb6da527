"""Fixtures for the JWKS tests: real key pairs, a live local key endpoint, apps that trust it."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from src.config import Settings
from src.main import create_app
from tests.jwks_server import (
    ALGORITHMS,
    AUDIENCE,
    ISSUER,
    ClientFor,
    JWKSServer,
    SigningKey,
    generate,
    serve_jwks,
)


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: generate(f"kid-{alg}", alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JWKSServer]:
    with serve_jwks() as server:
        yield server


@pytest.fixture
def jwks(jwks_server: JWKSServer, keys: dict[str, SigningKey]) -> JWKSServer:
    jwks_server.reset()
    jwks_server.publish(*keys.values())
    return jwks_server


@pytest.fixture
def client_for(settings: Settings) -> Iterator[ClientFor]:
    """A client whose app trusts the JWKS at `url`; extra settings override the defaults."""
    clients: list[TestClient] = []

    def make(url: str, **overrides: object) -> TestClient:
        configured = settings.model_copy(
            update={
                "jwt_jwks_url": url,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "jwt_jwks_min_refetch_seconds": 0.0,
                **overrides,
            }
        )
        client = TestClient(create_app(configured))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
