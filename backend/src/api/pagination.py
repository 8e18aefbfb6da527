"""RFC 8288 `Link` header for the task list: `next` and `prev`, when those pages exist."""

from urllib.parse import quote, urlencode

from starlette.requests import Request

from src.schemas.queries import TaskListQuery


def page_links(request: Request, query: TaskListQuery, total: int) -> str | None:
    """Links that keep every other query parameter; relative, like `Location`."""
    links = []
    if query.offset + query.limit < total:
        links.append(_link(request, query.offset + query.limit, query.limit, "next"))
    if query.offset > 0:
        # From past the end, `prev` is the last page, not another empty one.
        previous = max(0, min(query.offset - query.limit, total - query.limit))
        links.append(_link(request, previous, query.limit, "prev"))
    return ", ".join(links) or None


def _link(request: Request, offset: int, limit: int, rel: str) -> str:
    # Paging parameters last, in one order, so each page's link reads the same way.
    others = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    query = urlencode([*others, ("limit", limit), ("offset", offset)])
    return f'<{_path_as_sent(request)}?{query}>; rel="{rel}"'


def _path_as_sent(request: Request) -> str:
    """The request's path, percent-encoded again, so the link names the very same user.

    From the scope, not `request.url`: URL parsing drops a decoded tab, CR or LF, and a user id
    holding one would link to another user's path. User ids are opaque: every byte but `/` is
    encoded (headers are Latin-1).
    """
    return quote(request.scope["path"], safe="/")
