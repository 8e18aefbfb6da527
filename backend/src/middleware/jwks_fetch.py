"""One download of a key set: uncompressed, capped in size, parsed; any failure is one error."""

import asyncio
import json
import zlib
from typing import Any

import httpx

MAX_JWKS_BYTES = 256 * 1024  # a real key set is a few kilobytes
_KEY_TYPES = frozenset({"OKP", "EC", "RSA"})
# zlib's wbits for each Content-Encoding we can read: gzip's framing, or zlib's ("deflate").
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# Asked for explicitly: httpx otherwise offers gzip and inflates each chunk whole, so a few
# kilobytes of gzip would become gigabytes before any size check saw them.
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class KeySetUnavailableError(Exception):
    """The key set could not be fetched or read; the message says why, in a client's words."""


async def fetch_key_set(
    http: httpx.AsyncClient, url: str, timeout: float
) -> dict[str, dict[str, Any]]:
    """The set's asymmetric signing keys by `kid`, or KeySetUnavailableError."""
    try:
        # The client timeout bounds each phase; this bounds the whole fetch.
        async with asyncio.timeout(timeout):
            body = await _download(http, url)
    except (TimeoutError, httpx.TimeoutException):
        raise KeySetUnavailableError("the JWKS endpoint did not answer in time") from None
    except httpx.HTTPError as error:
        raise KeySetUnavailableError(f"the JWKS endpoint failed: {type(error).__name__}") from None
    parsed = _parsed(body)
    keys = parsed.get("keys") if isinstance(parsed, dict) else None
    if not isinstance(keys, list):
        raise KeySetUnavailableError("the JWKS endpoint did not return a key set")
    return {
        key["kid"]: key
        for key in keys
        if isinstance(key, dict)
        and isinstance(key.get("kid"), str)
        and key.get("kty") in _KEY_TYPES
        and key.get("use", "sig") == "sig"
    }


async def _download(http: httpx.AsyncClient, url: str) -> bytes:
    async with http.stream("GET", url, headers=_HEADERS) as response:
        if response.status_code != httpx.codes.OK:
            raise KeySetUnavailableError(f"the JWKS endpoint answered {response.status_code}")
        body = _CappedBody(response.headers.get("Content-Encoding", ""))
        async for chunk in response.aiter_raw():  # raw: we inflate, never past the cap
            body.add(chunk)
        return bytes(body.data)


class _CappedBody:
    """The body as it arrives, inflated if the server compressed it anyway; stops past the cap
    counting either the bytes read or the bytes they inflate to."""

    def __init__(self, encoding: str) -> None:
        coding = encoding.strip().lower()
        if coding not in {"", "identity", *_WBITS}:
            raise KeySetUnavailableError(
                f"the JWKS endpoint used an unsupported Content-Encoding ({encoding[:32]})"
            )
        self._inflater = zlib.decompressobj(_WBITS[coding]) if coding in _WBITS else None
        self._read = 0
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self._read += len(chunk)
        if self._read > MAX_JWKS_BYTES:
            raise _too_big()
        if self._inflater is None:
            self.data += chunk
        else:
            room = MAX_JWKS_BYTES + 1 - len(self.data)  # at least 1: 0 would mean "no limit"
            try:
                self.data += self._inflater.decompress(chunk, room)
            except zlib.error:
                raise KeySetUnavailableError(
                    "the JWKS endpoint sent a corrupt compressed body"
                ) from None
        if len(self.data) > MAX_JWKS_BYTES:
            raise _too_big()


def _too_big() -> KeySetUnavailableError:
    return KeySetUnavailableError("the JWKS endpoint returned too much data")


def _parsed(body: bytes) -> object:
    try:
        parsed: object = json.loads(body)
    except RecursionError:
        raise KeySetUnavailableError("the JWKS endpoint returned JSON nested too deeply") from None
    except ValueError:
        raise KeySetUnavailableError("the JWKS endpoint did not return JSON") from None
    return parsed
