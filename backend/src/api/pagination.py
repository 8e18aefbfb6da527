"""RFC 8288 `Link` header for the task list: `next` and `prev`, when those pages exist."""

from urllib.parse import quote

from starlette.datastructures import URL
from starlette.requests import Request

from src.schemas.queries import TaskListQuery


def page_links(request: Request, query: TaskListQuery, total: int) -> str | None:
    """Links that keep every other query parameter; relative, like `Location`."""
    links = []
    if query.offset + query.limit < total:
        links.append(_link(request.url, query.offset + query.limit, query.limit, "next"))
    if query.offset > 0:
        # From past the end, `prev` is the last page, not another empty one.
        previous = max(0, min(query.offset - query.limit, total - query.limit))
        links.append(_link(request.url, previous, query.limit, "prev"))
    # `request.url` is only built when a link needs it: most lists are one page.
    return ", ".join(links) or None


def _link(url: URL, offset: int, limit: int, rel: str) -> str:
    # Paging parameters last, in one order, so each page's link reads the same way.
    others = url.remove_query_params(["limit", "offset"])
    target = others.include_query_params(limit=limit, offset=offset)
    # The path arrives decoded; user ids are opaque, so encode it again (headers are Latin-1).
    return f'<{quote(target.path, safe="/")}?{target.query}>; rel="{rel}"'
