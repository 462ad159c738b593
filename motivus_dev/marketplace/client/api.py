"""A small client of the marketplace registry API (marketplace-api.md), used by push and
by the driver client's :func:`motivus_dev.marketplace.client.resolve.resolve`.

httpx is imported inside the functions that need it, so importing this module is cheap.
The token is sent only in the Authorization header and is scrubbed from every message this
module builds (:func:`redact`), so it cannot leak through an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from motivus_dev.envfile import read_dotenv
from motivus_dev.errors import MarketplaceError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

#: The hosted marketplace (marketplace-api.md); used when nothing else is configured.
DEFAULT_REGISTRY_URL = "https://marketplace.api.motivus.cl"
ALGORITHMS_PATH = "/api/package_registry/algorithms/"
REGISTRY_URL_VAR = "MOTIVUS_MARKETPLACE_URL"
REPO_HOST_VAR = "ALGORITHM_REPO_HOST"  # host:port, as the published 2.4.0 client reads it
PERSONAL_TOKEN_VARS = ("MOTIVUS_PERSONAL_ACCESS_TOKEN", "PERSONAL_ACCESS_TOKEN")
#: Statuses worth another try: the proxy or the server is momentarily unavailable.
TRANSIENT_STATUSES = (502, 503, 504)


class RegistryUnreachable(MarketplaceError):
    """The connection failed or broke (a transient failure)."""


class RegistryHTTPError(MarketplaceError):
    """The registry answered with an error status."""

    def __init__(self, message: str, *, status: int, errors: Dict[str, List[str]], hint: Optional[str] = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.errors = errors


def redact(text: str, token: Optional[str]) -> str:
    """``text`` without any occurrence of ``token``."""
    if token:
        return text.replace(token, "<token>")
    return text


def base_url(registry_url: str) -> str:
    """The server root of a registry URL given with or without the API path."""
    url = registry_url.strip().rstrip("/")
    api = ALGORITHMS_PATH.rstrip("/")
    if url.endswith(api):
        url = url[: -len(api)]
    if "://" not in url:
        url = "http://" + url  # host:port, as ALGORITHM_REPO_HOST is written
    return url


def algorithms_url(registry_url: str) -> str:
    """``{server}/api/package_registry/algorithms/``."""
    return base_url(registry_url) + ALGORITHMS_PATH


def registry_url_from_env(environ: Optional[Mapping[str, str]] = None) -> str:
    """``MOTIVUS_MARKETPLACE_URL``, else ``http://$ALGORITHM_REPO_HOST``, else the hosted one."""
    env = os.environ if environ is None else environ
    if env.get(REGISTRY_URL_VAR):
        return base_url(env[REGISTRY_URL_VAR])
    if env.get(REPO_HOST_VAR):
        return base_url(env[REPO_HOST_VAR])
    return DEFAULT_REGISTRY_URL


def _token_from(
    names: Tuple[str, ...], environ: Optional[Mapping[str, str]], dotenv: Optional[Path]
) -> Tuple[Optional[str], Optional[str]]:
    env = os.environ if environ is None else environ
    for name in names:
        if env.get(name):
            return env[name], name
    if dotenv is not None:
        file_values = read_dotenv(dotenv)  # the project's .env, as the docs keep tokens there
        for name in names:
            if file_values.get(name):
                return file_values[name], f"{name} (in {dotenv})"
    return None, None


def personal_token_from_env(
    environ: Optional[Mapping[str, str]] = None, dotenv: Optional[Path] = None
) -> Tuple[Optional[str], Optional[str]]:
    """The personal access token and where it was read from (for messages), or (None, None).

    Looks at ``MOTIVUS_PERSONAL_ACCESS_TOKEN`` then ``PERSONAL_ACCESS_TOKEN`` in the
    environment, then in ``dotenv`` (the docs put it in ``.env``).
    """
    return _token_from(PERSONAL_TOKEN_VARS, environ, dotenv)


def error_fields(response: "httpx.Response") -> Dict[str, List[str]]:
    """The ``{"errors": {field: [msg]}}`` of an error answer, best effort (the platform
    answers auth refusals in plain text: that text becomes ``detail``)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return {"detail": [text[:300]]} if text else {}
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    result: Dict[str, List[str]] = {}
    for key, value in errors.items():
        if isinstance(value, list):
            result[str(key)] = [str(v) for v in value]
        else:
            result[str(key)] = [str(value)]
    return result


def format_errors(errors: Dict[str, List[str]]) -> str:
    """``field: msg; field: msg``, or ``no reason given``."""
    parts = [f"{key}: {', '.join(msgs)}" if key not in ("detail",) else ", ".join(msgs) for key, msgs in errors.items()]
    return "; ".join(parts) or "no reason given"


class RegistryClient:
    """One connection pool to a registry, authenticated with one token."""

    def __init__(
        self,
        registry_url: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        transport: Optional["httpx.BaseTransport"] = None,
    ) -> None:
        """``transport`` replaces the network (tests pass an ``httpx.MockTransport``)."""
        import httpx

        self.registry_url = base_url(registry_url)
        self.algorithms_url = algorithms_url(registry_url)
        self._token = token
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0))
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            timeout=timeout,
            headers=dict(headers, accept="application/json"),
            follow_redirects=False,
            transport=transport,
        )
        # Downloads from another origin (a bucket) never carry the token.
        self._anonymous = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport)

    def close(self) -> None:
        self._http.close()
        self._anonymous.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        return redact(text, self._token)

    def _send(self, method: str, url: str, **kwargs: Any) -> "httpx.Response":
        import httpx

        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(
                self.redact(f"cannot reach the marketplace at {self.registry_url}: {type(exc).__name__}: {exc}"),
                hint=f"check the URL (--registry / {REGISTRY_URL_VAR}) and that the server runs",
            ) from exc

    def check(self, response: "httpx.Response", what: str) -> "httpx.Response":
        """Raise :class:`RegistryHTTPError` on an error status."""
        if response.status_code < 400:
            return response
        errors = error_fields(response)
        raise RegistryHTTPError(
            self.redact(f"{what}: the marketplace answered {response.status_code}: {format_errors(errors)}"),
            status=response.status_code,
            errors=errors,
        )

    def json_data(self, response: "httpx.Response", what: str) -> Any:
        """The ``data`` of a success envelope."""
        try:
            body = response.json()
        except ValueError as exc:
            raise MarketplaceError(f"{what}: the marketplace answered something that is not JSON") from exc
        if not isinstance(body, dict) or "data" not in body:
            raise MarketplaceError(f"{what}: the marketplace's answer has no 'data'")
        return body["data"]

    def find_algorithm(self, name: str) -> Tuple["httpx.Response", Optional[Dict[str, Any]]]:
        """``GET /algorithms/?name=NAME``: the response and the algorithm (None if absent)."""
        response = self._send("GET", self.algorithms_url, params={"name": name})
        if response.status_code >= 400:
            return response, None
        data = self.json_data(response, f"looking up algorithm {name!r}")
        matches = [a for a in data if isinstance(a, dict) and a.get("name") == name] if isinstance(data, list) else []
        return response, (matches[0] if matches else None)

    def create_algorithm(
        self, name: str, *, cost: float = 0.0, charge_schema: str = "PER_EXECUTION", is_public: bool = False
    ) -> "httpx.Response":
        """``POST /algorithms/``: the platform requires ``cost`` and ``charge_schema`` too."""
        fields = {"name": name, "cost": cost, "charge_schema": charge_schema, "is_public": is_public}
        return self._send("POST", self.algorithms_url, json={"algorithm": fields})

    def upload_version(
        self,
        algorithm_id: Any,
        version_json: str,
        package_path: Path,
        file_name: str,
        on_bytes: Callable[[int], None],
    ) -> "httpx.Response":
        """``POST /algorithms/{id}/versions`` with the ``version`` and ``package`` parts."""
        url = f"{self.algorithms_url}{algorithm_id}/versions"
        with open(package_path, "rb") as handle:
            body = _ProgressReader(handle, on_bytes)
            files = {"package": (file_name, body, "application/zip")}
            return self._send("POST", url, data={"version": version_json}, files=files)

    def download(self, url: str) -> bytes:
        """GET a download URL. The token is sent only to the registry's own origin: a
        download may live elsewhere (a bucket), which must not receive it."""
        same_origin = urlsplit(url)[:2] == urlsplit(self.registry_url)[:2]
        response = self._send("GET", url) if same_origin else self._send_anonymous(url)
        self.check(response, f"downloading {urlsplit(url).path.rsplit('/', 1)[-1]}")
        return response.content

    def _send_anonymous(self, url: str) -> "httpx.Response":
        import httpx

        try:
            return self._anonymous.get(url)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"cannot download {url}: {type(exc).__name__}: {exc}") from exc


class _ProgressReader:
    """A read-only file wrapper that reports how many bytes httpx has read from it."""

    def __init__(self, handle: Any, on_bytes: Callable[[int], None]) -> None:
        self._handle = handle
        self._on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._handle.read(size)
        if chunk:
            self._on_bytes(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._handle.seek(offset, whence))

    def tell(self) -> int:
        return int(self._handle.tell())

    def fileno(self) -> int:
        # Lets httpx compute the Content-Length from the file's size (no chunked upload).
        return int(self._handle.fileno())
