"""Tag-list paging for the test proxy: `Link: <...>; rel="next"` pages, finite or endless.

Debian's registry 2.8 ignores `n` and answers every tag at once, while GHCR and ECR page
them; the pipeline must follow pages to the end, and give up on a list that never ends.
"""

from __future__ import annotations

import json
import re
import urllib.parse

from .forwarding import ForwardingHandler, passable

__all__ = ["TagPages"]

_TAGS_RE = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


class TagPages(ForwardingHandler):
    """Answers tag-list GETs page by page when the proxy has a `page_size` or endless tags."""

    def _paged_tags(self, method: str, path: str) -> bool:
        """Answer a tag-list GET with one page: True, or False when this proxy does not page."""
        match = _TAGS_RE.match(path)
        hostile = self.proxy.hostile
        if method != "GET" or not match or not (self.proxy.page_size or hostile.endless_tags):
            return False
        name = match.group("name")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        last = query.get("last", [None])[0]
        try:
            n_asked = int(query["n"][0]) if query.get("n") else None
        except ValueError:
            self._json_error(400, "PAGINATION_NUMBER_INVALID", "n must be an integer")
            return True
        limit = self.proxy.page_size or 100
        n = max(0, min(n_asked, limit)) if n_asked is not None else limit
        if hostile.endless_tags:
            start = int(last.rsplit("-", 1)[1]) + 1 if last and last.startswith("endless-") else 0
            page = [f"endless-{i:08d}" for i in range(start, start + max(n, 1))]
            more = True
        else:
            status, headers, raw = self._fetch(f"/v2/{name}/tags/list")
            if status != 200:
                self._answer(status, raw, passable(headers))
                return True
            tags = sorted(json.loads(raw).get("tags") or [])
            after = [t for t in tags if last is None or t > last]
            page, more = after[:n], len(after) > n and n > 0
        headers_out = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
        ]
        if more and page:
            nxt = urllib.parse.urlencode({"n": n or 1, "last": page[-1]})
            headers_out.append(("Link", f'</v2/{name}/tags/list?{nxt}>; rel="next"'))
        body = json.dumps({"name": name, "tags": page}).encode()
        self._answer(200, body, headers_out)
        return True
