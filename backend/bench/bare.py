"""The ceiling of the stack: one FastAPI route returning one JSON dict, no database, no auth.

`make bench` serves it with the same uvicorn settings as the Task API, so the ratio between the two
is what the application itself costs.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
