"""A careful client for the PHS open data portal (CKAN): timeouts, status checks, an identifying
User-Agent, id validation before any request, retries with backoff, and resumable downloads."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from gpcluster import __version__ as VERSION
from gpcluster import config
from gpcluster.errors import GpclusterError, UserError

USER_AGENT = f"gpcluster/{VERSION} (+https://github.com/gpcluster; open-data sync)"
DATASET_NAME = re.compile(r"^[a-z0-9_-]{2,100}$")
RETRY_STATUS = {429, 500, 502, 503, 504}
CHUNK = 1 << 16


class CkanError(GpclusterError):
    """The portal answered, but not with what CKAN promises (or not at all after retries)."""


def check_resource_id(resource_id: str) -> str:
    """Resource ids are UUIDs; anything else is refused before a request is made."""
    try:
        return str(uuid.UUID(resource_id))
    except (ValueError, AttributeError, TypeError) as exc:
        raise UserError(f"{resource_id!r} is not a CKAN resource id (a UUID)") from exc


def check_dataset_id(dataset_id: str) -> str:
    """Datasets are named by UUID or by CKAN slug (lowercase letters, digits, - and _)."""
    try:
        return str(uuid.UUID(dataset_id))
    except (ValueError, AttributeError, TypeError):
        if isinstance(dataset_id, str) and DATASET_NAME.match(dataset_id):
            return dataset_id
    raise UserError(f"{dataset_id!r} is not a CKAN dataset id or name")


class CkanClient:
    """Read-only CKAN API client. `transport` lets tests serve recorded responses."""

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None, retries: int | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.base_url = (base_url or config.get("ckan_url")).rstrip("/")
        self.retries = max(1, retries if retries is not None else config.get("http_retries"))
        self.sleep = sleep
        self.http = httpx.Client(timeout=timeout if timeout is not None else config.get("http_timeout"),
                                 headers={"User-Agent": USER_AGENT}, transport=transport, follow_redirects=True)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> CkanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with retries on network errors and 429/5xx, backing off 1, 2, 4 ... seconds."""
        last: Exception | None = None
        for attempt in range(self.retries):
            if attempt:
                self.sleep(min(2 ** (attempt - 1), 30))
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code in RETRY_STATUS:
                last = CkanError(f"{url}: HTTP {response.status_code}")
                continue
            if response.status_code >= 400:
                raise CkanError(f"{url}: HTTP {response.status_code}")
            return response
        raise CkanError(f"{url}: gave up after {self.retries} attempt(s): {last}")

    def action(self, name: str, **params: str) -> Any:
        """Call a CKAN action API and return its `result`, checking CKAN's `success` flag."""
        url = f"{self.base_url}/api/3/action/{name}"
        response = self._send("GET", url, params=params)
        try:
            body = response.json()
        except ValueError as exc:
            raise CkanError(f"{url}: response is not JSON") from exc
        if not isinstance(body, dict) or not body.get("success"):
            raise CkanError(f"{url}: CKAN reported failure: {body.get('error') if isinstance(body, dict) else body}")
        return body["result"]

    def package_show(self, dataset_id: str) -> dict[str, Any]:
        """Dataset metadata including its resources (one per release for PHS's release series)."""
        return self.action("package_show", id=check_dataset_id(dataset_id))

    def resource_show(self, resource_id: str) -> dict[str, Any]:
        return self.action("resource_show", id=check_resource_id(resource_id))

    def download(self, url: str, dest: Path, on_bytes: Callable[[int], None] | None = None) -> str:
        """Download `url` to `dest`, resuming a `<dest>.part` with an HTTP Range request where the
        server allows it. Returns the sha256 of the complete file."""
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        last: Exception | None = None
        for attempt in range(self.retries):
            if attempt:
                self.sleep(min(2 ** (attempt - 1), 30))
            try:
                with self.http.stream("GET", url, headers=headers) as response:
                    if response.status_code in RETRY_STATUS:
                        last = CkanError(f"{url}: HTTP {response.status_code}")
                        continue
                    if response.status_code == 416:  # the part file is already complete
                        break
                    if response.status_code >= 400:
                        raise CkanError(f"{url}: HTTP {response.status_code}")
                    mode = "ab" if response.status_code == 206 and have else "wb"
                    with part.open(mode) as out:
                        for chunk in response.iter_bytes(CHUNK):
                            out.write(chunk)
                            if on_bytes:
                                on_bytes(len(chunk))
                break
            except httpx.TransportError as exc:
                last = exc
                have = part.stat().st_size if part.exists() else 0
                headers = {"Range": f"bytes={have}-"} if have else {}
        else:
            raise CkanError(f"{url}: gave up after {self.retries} attempt(s): {last}")
        digest = file_sha256(part)
        part.replace(dest)
        return digest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
