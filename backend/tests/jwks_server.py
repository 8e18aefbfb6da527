"""A JWKS endpoint on a free local port, and real key pairs that sign tokens for it."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
ISSUER = "http://auth.test"
AUDIENCE = "http://auth.test"
ALGORITHMS = ["EdDSA", "ES256", "RS256", "PS256"]
URL = "/api/alice/tasks"
ClientFor = Callable[..., TestClient]


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: PrivateKey

    def jwk(self, **extra: str) -> dict[str, Any]:
        public = self.private.public_key()
        exporter = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm}.get(self.algorithm, RSAAlgorithm)
        key: dict[str, Any] = exporter.to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        return key | {"kid": self.kid, "alg": self.algorithm, "use": "sig"} | extra

    def sign(
        self, sub: str = "alice", *, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}
        return jwt.encode(
            payload | claims,
            self.private,
            algorithm=self.algorithm,
            headers={"kid": self.kid} if header is None else header,
        )


def generate(kid: str, algorithm: str) -> SigningKey:
    private: PrivateKey
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid, algorithm, private)


@dataclass
class JWKSServer:
    """Serves `keys` (or `body`, or `status`) and counts the requests it answered.

    `headers` are added to each answer; `asked` holds the last request's headers, names lowercased.
    """

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    body: bytes | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    asked: dict[str, str] = field(default_factory=dict)

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk() for key in keys]

    def reset(self) -> None:
        self.keys, self.body, self.status, self.hits = [], None, 200, 0
        self.headers, self.asked = {}, {}


@contextmanager
def serve_jwks() -> Iterator[JWKSServer]:
    state = JWKSServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            state.asked = {name.lower(): value for name, value in self.headers.items()}
            body = state.body if state.body is not None else json.dumps({"keys": state.keys})
            payload = body.encode() if isinstance(body, str) else body
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/auth/jwks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def answer(client: TestClient, token: str) -> tuple[int, str]:
    """The status and `detail` of a task list request with `token` (detail "" on a 200)."""
    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    detail = response.json()["detail"] if response.status_code != 200 else ""
    return response.status_code, detail
