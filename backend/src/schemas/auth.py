"""What the service knows about a caller."""

from pydantic import BaseModel, ConfigDict


class JWTPayload(BaseModel):
    """The claims the service relies on; the library has already checked signature and times."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str
