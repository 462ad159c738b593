"""The local marketplace's HTTP server (marketplace-api.md), on starlette + uvicorn.

Routes (``API = /api/package_registry``), each also answered with a trailing slash so
clients that add or omit one (the published 2.4.0 CLI uses ``/algorithms/?name=`` and
``/algorithms/{id}/versions``) are served without a redirect, which would drop a POST body:

* ``GET  API/algorithms/?name=NAME&role=R``   list (``name`` filters), also anonymously
* ``POST API/algorithms/``                     create (name, cost, charge_schema, is_public)
* ``GET|PUT|PATCH API/algorithms/{id}``        one algorithm; its OWNER updates it
* ``GET|POST API/algorithms/{id}/users``       its roles (OWNER, MAINTAINER, USER); OWNER only
* ``GET  API/algorithms/{id}/versions``        its versions
* ``POST API/algorithms/{id}/versions``        publish (multipart ``version`` + ``package``)
* ``GET  API/algorithms/{id}/versions/{vid}``  one version
* ``GET  API/files/{sha256}/{file name}``      downloads (``wasm_url``, ``loader_url``, ...)

Deleting an algorithm and changing or deleting a version is a 405 ``not allowed``:
published versions are immutable. Bodies and status codes are the platform's
(marketplace-api.md), including its plain-text refusals.

Downloads need no token: the published client and the workers fetch ``wasm_url`` and
``data_url`` without any header. The URLs are capability URLs: they are only handed out to
application tokens, they name the file's sha256 (unguessable without the content), and
only files of committed versions are served.

starlette and uvicorn are imported by this module only, which the CLI imports lazily.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server.blobs import CHUNK
from motivus_dev.marketplace.server.location import RegistryLocation, as_location
from motivus_dev.marketplace.server.store import (
    PUBLISHER_ROLES,
    ROLE_OWNER,
    ROLE_USER,
    ROLES,
    AlgorithmRow,
    AlreadyExists,
    NotFound,
    Principal,
    RoleRow,
    Store,
    VersionRow,
    content_type,
)
from motivus_dev.marketplace.validation import (
    ALGORITHM_NAME_RE,
    CHARGE_SCHEMAS,
    PackageLimits,
    PackageRejected,
    ValidatedPackage,
    check_file_name,
    check_names,
    extract_package,
    fsync_write,
)
from motivus_dev.reporter import Reporter

API = "/api/package_registry"
_SHA256_CHARS = set("0123456789abcdef")
#: Content-addressed: the bytes behind a download URL never change.
_IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}

Scope = Dict[str, Any]
Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class UploadTooLarge(Exception):
    """The request body passed the upload limit."""


class _BodyLimit:
    """ASGI wrapper that stops reading a request body past ``limit`` bytes.

    A Content-Length check alone would miss chunked uploads; counting what is received
    covers both, and the endpoint turns the exception into a 413.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise UploadTooLarge()
            return message

        await self.app(scope, limited, send)


def _errors(status: int, errors: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


def _not_found() -> JSONResponse:
    """The platform's 404 body: ``detail`` is a string, not a list."""
    return _errors(404, {"detail": "Not Found"})


def _text(status: int, body: str) -> Response:
    """The platform answers auth failures and refusals with a plain-text body."""
    return PlainTextResponse(body, status_code=status)


# The platform's words, so that a client cannot tell the two servers apart.
INVALID_TOKEN = "invalid_token"
UNAUTHENTICATED = "unauthenticated"
NOT_WITH_THIS_TOKEN = "Not allowed using this token"
NOT_ENOUGH_PRIVILEGES = "Not enough user previlieges"  # sic, as the platform spells it
NOT_ALLOWED = "not allowed"


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _algorithm_changes(fields: Dict[str, Any], required: Tuple[str, ...]) -> Union[Dict[str, Any], Response]:
    """``is_public``, ``cost``, ``charge_schema`` of an algorithm body, checked as the
    platform's changeset checks them; a 422 response when something is wrong."""
    errors: Dict[str, List[str]] = {}
    changes: Dict[str, Any] = {}
    for key in required:
        if fields.get(key) is None:
            errors.setdefault(key, []).append("can't be blank")
    if "cost" in fields and fields["cost"] is not None:
        if _is_number(fields["cost"]):
            changes["cost"] = float(fields["cost"])
        else:
            errors.setdefault("cost", []).append("is invalid")
    if "charge_schema" in fields and fields["charge_schema"] is not None:
        if fields["charge_schema"] in CHARGE_SCHEMAS:
            changes["charge_schema"] = fields["charge_schema"]
        else:
            errors.setdefault("charge_schema", []).append("is invalid")
    if "is_public" in fields and fields["is_public"] is not None:
        if isinstance(fields["is_public"], bool):
            changes["is_public"] = fields["is_public"]
        else:
            errors.setdefault("is_public", []).append("is invalid")
    return _errors(422, errors) if errors else changes


class MarketplaceApp:
    """The request handlers over one :class:`Store`.

    Who may do what (marketplace-api.md, from the platform's router and pipelines):
    anonymous callers read public algorithms; an unknown token is a 401 ``invalid_token``;
    application tokens only read (index/show of algorithms and versions; anything else 403
    ``Not allowed using this token``) and are the only ones shown ``hash`` and the download
    URLs; personal access tokens create algorithms and publish where the user is OWNER or
    MAINTAINER (else 403 ``Not enough user previlieges``).
    """

    def __init__(
        self, store: Store, limits: PackageLimits, public_url: Optional[str] = None, presign: Optional[int] = None
    ) -> None:
        """``presign``: hand out download URLs to the blob store itself, valid this many
        seconds (S3 blobs only), instead of URLs to this server."""
        self.store = store
        self.limits = limits
        self.public_url = public_url.rstrip("/") if public_url else None
        self.presign = presign

    # -- helpers -----------------------------------------------------------------------

    async def _caller(self, request: Request) -> Union[Response, Optional[Principal]]:
        """The token's principal, None when there is no token, a 401 for an unknown one."""
        token = _bearer(request)
        if not token:
            return None
        principal = await run_in_threadpool(self.store.authenticate, token)
        return principal if principal is not None else _text(401, INVALID_TOKEN)

    async def _writer(self, request: Request, anonymous: str = UNAUTHENTICATED) -> Union[Response, Principal]:
        """The principal of a call that changes something: a personal token's user."""
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        if caller is None:
            return _text(401 if anonymous == UNAUTHENTICATED else 403, anonymous)
        if caller.kind == "application":
            return _text(403, NOT_WITH_THIS_TOKEN)
        return caller

    def _base_url(self, request: Request) -> str:
        if self.public_url:
            return self.public_url
        return str(request.base_url).rstrip("/")

    @staticmethod
    def _visible(algorithm: AlgorithmRow, principal: Optional[Principal]) -> bool:
        return algorithm.is_public or (principal is not None and principal.user_id in algorithm.roles)

    def version_json(self, version: VersionRow, principal: Optional[Principal], base: str) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "id": version.id,
            "name": version.name,
            "metadata": version.metadata,
            "inserted_at": version.inserted_at,
        }
        if principal is not None and principal.kind == "application":
            names = version.file_names()

            def url(sha: str, name: str) -> str:
                if self.presign:
                    direct = self.store.presigned_url(sha, name, self.presign)
                    if direct:
                        return direct
                return f"{base}{API}/files/{sha}/{name}"

            body.update(
                {
                    # hash: what the uploader sent (null from the 2.4.0 CLI), as the platform;
                    # the *_hash fields are ours: the sha256 of each served file.
                    "hash": version.hash,
                    "wasm_url": url(version.wasm_sha256, names["wasm"]),
                    "loader_url": url(version.loader_sha256, names["loader"]),
                    "data_url": url(version.data_sha256, names["data"]) if version.data_sha256 else None,
                    "package_url": url(version.package_sha256, names["package"]),
                    "package_hash": version.package_sha256,
                    "wasm_hash": version.wasm_sha256,
                    "loader_hash": version.loader_sha256,
                    "data_hash": version.data_sha256,
                }
            )
        return body

    def algorithm_json(self, algorithm: AlgorithmRow, principal: Optional[Principal], base: str) -> Dict[str, Any]:
        return {
            "id": algorithm.id,
            "name": algorithm.name,
            "is_public": algorithm.is_public,
            "cost": algorithm.cost,
            "charge_schema": algorithm.charge_schema,
            "inserted_at": algorithm.inserted_at,
            "versions": [self.version_json(v, principal, base) for v in algorithm.versions],
        }

    def role_json(self, role: RoleRow) -> Dict[str, Any]:
        return {
            "id": role.id,
            "role": role.role,
            "cost": role.cost,
            "charge_schema": role.charge_schema,
            "user_id": role.user_id,
            "algorithm_id": role.algorithm_id,
            "user": {"id": role.user_id, "username": role.user_name},
        }

    async def _algorithm_for(self, request: Request, principal: Optional[Principal]) -> Optional[AlgorithmRow]:
        try:
            algorithm = await run_in_threadpool(self.store.get_algorithm, int(request.path_params["id"]))
        except NotFound:
            return None
        return algorithm if self._visible(algorithm, principal) else None

    async def _readable_algorithm(
        self, request: Request
    ) -> Union[Response, Tuple[Optional[Principal], AlgorithmRow]]:
        """The caller (None: anonymous) and the algorithm of the path, or the 401/404 to send."""
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        algorithm = await self._algorithm_for(request, caller)
        if algorithm is None:
            return _not_found()
        return caller, algorithm

    async def _owned_algorithm(
        self, request: Request, roles: Tuple[str, ...], anonymous: str = UNAUTHENTICATED
    ) -> Union[Response, Tuple[Principal, AlgorithmRow]]:
        """A writer and an algorithm on which it has one of ``roles``, or the response to send."""
        writer = await self._writer(request, anonymous)
        if isinstance(writer, Response):
            return writer
        algorithm = await self._algorithm_for(request, writer)
        if algorithm is None:
            return _not_found()
        if algorithm.roles.get(writer.user_id) not in roles:
            return _text(403, NOT_ENOUGH_PRIVILEGES)
        return writer, algorithm

    # -- endpoints ---------------------------------------------------------------------

    async def list_algorithms(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        name = request.query_params.get("name")
        role = request.query_params.get("role")
        algorithms = await run_in_threadpool(self.store.list_algorithms, name)
        if role in PUBLISHER_ROLES:
            algorithms = [a for a in algorithms if caller is not None and a.roles.get(caller.user_id) == role]
        base = self._base_url(request)
        data = [self.algorithm_json(a, caller, base) for a in algorithms if self._visible(a, caller)]
        return JSONResponse({"data": data})

    async def create_algorithm(self, request: Request) -> Response:
        writer = await self._writer(request)
        if isinstance(writer, Response):
            return writer
        fields = await _json_object(request, "algorithm")
        if isinstance(fields, Response):
            return fields
        changes = _algorithm_changes(fields, ("name", "cost", "charge_schema"))
        name = fields.get("name")
        if isinstance(changes, Response):
            return changes
        if not isinstance(name, str) or not ALGORITHM_NAME_RE.match(name):
            return _errors(422, {"name": ["use only lowercase letters, numbers and - _ "]})
        try:
            algorithm = await run_in_threadpool(
                lambda: self.store.create_algorithm(
                    name,
                    writer.user_id,
                    is_public=bool(changes.get("is_public", False)),
                    cost=changes["cost"],
                    charge_schema=changes["charge_schema"],
                )
            )
        except AlreadyExists:
            return _errors(422, {"name": ["has already been taken"]})
        location = f"{API}/algorithms/{algorithm.id}"
        return JSONResponse(
            {"data": self.algorithm_json(algorithm, writer, self._base_url(request))},
            status_code=201,
            headers={"location": location},
        )

    async def show_algorithm(self, request: Request) -> Response:
        found = await self._readable_algorithm(request)
        if isinstance(found, Response):
            return found
        principal, algorithm = found
        return JSONResponse({"data": self.algorithm_json(algorithm, principal, self._base_url(request))})

    async def update_algorithm(self, request: Request) -> Response:
        found = await self._owned_algorithm(request, (ROLE_OWNER,))
        if isinstance(found, Response):
            return found
        principal, algorithm = found
        fields = await _json_object(request, "algorithm")
        if isinstance(fields, Response):
            return fields
        changes = _algorithm_changes(fields, ())
        if isinstance(changes, Response):
            return changes
        updated = await run_in_threadpool(self.store.update_algorithm, algorithm.id, changes)
        return JSONResponse({"data": self.algorithm_json(updated, principal, self._base_url(request))})

    async def not_allowed(self, request: Request) -> Response:
        """Deleting an algorithm, changing or deleting a version: refused, as the platform."""
        return _text(405, NOT_ALLOWED)

    async def list_roles(self, request: Request) -> Response:
        found = await self._owned_algorithm(request, (ROLE_OWNER,))
        if isinstance(found, Response):
            return found
        _, algorithm = found
        roles = await run_in_threadpool(self.store.roles, algorithm.id)
        return JSONResponse({"data": [self.role_json(r) for r in roles]})

    async def add_role(self, request: Request) -> Response:
        found = await self._owned_algorithm(request, (ROLE_OWNER,))
        if isinstance(found, Response):
            return found
        _, algorithm = found
        fields = await _json_object(request, "algorithm_user")
        if isinstance(fields, Response):
            return fields
        who, role = fields.get("username_or_email"), fields.get("role")
        errors: Dict[str, List[str]] = {}
        if not isinstance(who, str) or not who:
            errors["username_or_email"] = ["can't be blank"]
        if role not in ROLES:
            errors["role"] = ["is invalid" if role is not None else "can't be blank"]
        changes = _algorithm_changes(fields, ("cost", "charge_schema") if role == ROLE_USER else ())
        if isinstance(changes, Response):
            return changes
        if errors:
            return _errors(422, errors)
        try:
            added = await run_in_threadpool(
                lambda: self.store.add_role(
                    algorithm.id, str(who), str(role), changes.get("cost"), changes.get("charge_schema")
                )
            )
        except NotFound:
            return _not_found()
        except AlreadyExists:
            return _errors(422, {"user_id": ["has already been taken"]})
        location = f"{API}/algorithms/{algorithm.id}/users/{added.id}"
        return JSONResponse({"data": self.role_json(added)}, status_code=201, headers={"location": location})

    async def list_versions(self, request: Request) -> Response:
        found = await self._readable_algorithm(request)
        if isinstance(found, Response):
            return found
        principal, algorithm = found
        base = self._base_url(request)
        return JSONResponse({"data": [self.version_json(v, principal, base) for v in algorithm.versions]})

    async def show_version(self, request: Request) -> Response:
        found = await self._readable_algorithm(request)
        if isinstance(found, Response):
            return found
        principal, algorithm = found
        vid = int(request.path_params["vid"])
        for version in algorithm.versions:
            if version.id == vid:
                return JSONResponse({"data": self.version_json(version, principal, self._base_url(request))})
        return _not_found()

    async def create_version(self, request: Request) -> Response:
        found = await self._owned_algorithm(request, PUBLISHER_ROLES, anonymous=NOT_ENOUGH_PRIVILEGES)
        if isinstance(found, Response):
            return found
        principal, algorithm = found
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_upload_bytes:
            return _errors(413, {"package": [f"is too large (limit {self.limits.max_upload_bytes} bytes)"]})
        try:
            form = await _read_form(request)
        except UploadTooLarge:
            return _errors(413, {"package": [f"is too large (limit {self.limits.max_upload_bytes} bytes)"]})
        except HTTPException as exc:
            return _errors(400, {"detail": f"malformed multipart body: {exc.detail}"})
        try:
            return await self._publish(request, principal, algorithm, form)
        finally:
            await form.close()

    async def _publish(self, request: Request, principal: Principal, algorithm: AlgorithmRow, form: Any) -> Response:
        raw = form.get("version")
        if isinstance(raw, UploadFile):  # a client may send the JSON as a file part
            raw = (await raw.read()).decode("utf-8", errors="replace")
        if not isinstance(raw, str) or not raw:
            return _errors(422, {"version": ["can't be blank"]})
        try:
            version_fields = json.loads(raw)
        except ValueError:
            return _errors(422, {"version": ["is not valid JSON"]})
        except RecursionError:
            return _errors(422, {"version": ["nests too deeply"]})
        if not isinstance(version_fields, dict):
            return _errors(422, {"version": ["is invalid"]})
        version = version_fields.get("name")
        if not isinstance(version, str) or not version:
            return _errors(422, {"name": ["can't be blank"]})
        metadata = version_fields.get("metadata") or {}
        if not isinstance(metadata, dict):
            return _errors(422, {"metadata": ["is invalid"]})
        digest = version_fields.get("hash")
        if digest is not None and not isinstance(digest, str):
            return _errors(422, {"hash": ["is invalid"]})
        try:
            check_names(algorithm.name, version)
        except PackageRejected as exc:
            return _errors(422, {exc.field: [exc.reason]})
        if await run_in_threadpool(self.store.version_exists, algorithm.id, version):
            return _errors(422, {"name": ["has already been taken"]})
        package = form.get("package")
        if not isinstance(package, UploadFile):
            return _errors(422, {"package": ["can't be blank"]})
        try:
            check_file_name(package.filename, algorithm.name, version)
            row = await run_in_threadpool(self._store_upload, algorithm, version, package, metadata, digest)
        except PackageRejected as exc:
            return _errors(422, {exc.field: [exc.reason]})
        except AlreadyExists:
            return _errors(422, {"name": ["has already been taken"]})
        location = f"{API}/algorithms/{algorithm.id}/versions/{row.id}"
        return JSONResponse(
            {"data": self.version_json(row, principal, self._base_url(request))},
            status_code=201,
            headers={"location": location},
        )

    def _store_upload(
        self,
        algorithm: AlgorithmRow,
        version: str,
        package: UploadFile,
        metadata: Dict[str, Any],
        declared_hash: Optional[str],
    ) -> VersionRow:
        """Runs in a worker thread: copy, validate fully, then install and commit."""
        scratch = self.store.new_scratch_dir()
        try:
            upload_path = scratch / "upload.zip"
            package.file.seek(0)
            digest, _size = fsync_write(package.file, upload_path, max_bytes=self.limits.max_upload_bytes)
            extracted_dir = scratch / "files"
            extracted_dir.mkdir()
            validated: ValidatedPackage = extract_package(
                upload_path, algorithm.name, version, extracted_dir, self.limits, package_sha256=digest
            )
            return self.store.publish_version(algorithm, validated, metadata, declared_hash)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def download(self, request: Request) -> Response:
        """A committed version's file: a redirect to the store with ``--presign``, else the
        bytes (a local file as such, an S3 object streamed through)."""
        sha = str(request.path_params["sha"])
        file_name = str(request.path_params["file_name"])
        if len(sha) != 64 or not set(sha) <= _SHA256_CHARS:
            return _not_found()
        version = await run_in_threadpool(self.store.find_download, sha, file_name)
        if version is None:
            return _not_found()
        blobs = self.store.blobs
        if self.presign:
            direct = await run_in_threadpool(self.store.presigned_url, sha, file_name, self.presign)
            if direct:
                return RedirectResponse(direct, status_code=307)
        media_type = content_type(file_name)
        path = blobs.local_path(sha)
        if path is not None:
            if not path.exists():
                return _not_found()
            return FileResponse(str(path), media_type=media_type, filename=file_name, headers=_IMMUTABLE)
        size = await run_in_threadpool(blobs.size, sha)
        if size is None:
            return _not_found()
        headers = {**_IMMUTABLE, "content-length": str(size),
                   "content-disposition": f'attachment; filename="{file_name}"'}
        if request.method == "HEAD":
            return Response(status_code=200, media_type=media_type, headers=headers)
        stream = await run_in_threadpool(blobs.open, sha)

        def chunks() -> Any:
            try:
                yield from iter(lambda: stream.read(CHUNK), b"")
            finally:
                stream.close()

        return StreamingResponse(chunks(), media_type=media_type, headers=headers)


async def _json_body(request: Request) -> Any:
    """The request's JSON, or the response for a body that is not JSON (400) or nests too
    deeply to parse (422)."""
    try:
        return await request.json()
    except RecursionError:
        return _errors(422, {"detail": "the JSON body nests too deeply"})
    except ValueError:
        return _errors(400, {"detail": "the body is not valid JSON"})


async def _json_object(request: Request, key: str) -> Any:
    """The object under ``key`` of the request's JSON body (``{"algorithm": {...}}``), or
    the response refusing the body: 400/422 as :func:`_json_body`, 422 "can't be blank"
    when ``key`` is not an object."""
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    fields = body.get(key) if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        return _errors(422, {key: ["can't be blank"]})
    return fields


async def _read_form(request: Request) -> Any:
    try:
        return await request.form(max_files=2, max_fields=8)
    except TypeError:  # starlette before 0.26 has no limits on form()
        return await request.form()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "error")
    headers = getattr(exc, "headers", None)
    if status == 404:
        return _not_found()
    if status == 405:
        return _text(405, NOT_ALLOWED)
    return _errors(status, {"detail": str(detail)}, headers=headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return _errors(500, {"detail": "internal server error"})


def create_app(
    store: Store, *, public_url: Optional[str] = None, limits: Optional[PackageLimits] = None,
    presign: Optional[int] = None,
) -> ASGIApp:
    """The ASGI application serving one registry."""
    limits = limits or PackageLimits()
    handlers = MarketplaceApp(store, limits, public_url, presign)
    algorithms = f"{API}/algorithms"
    routes: List[Route] = []
    for suffix in ("", "/"):
        routes += [
            Route(algorithms + suffix, handlers.list_algorithms, methods=["GET"]),
            Route(algorithms + suffix, handlers.create_algorithm, methods=["POST"]),
            Route(f"{algorithms}/{{id:int}}{suffix}", handlers.show_algorithm, methods=["GET"]),
            Route(f"{algorithms}/{{id:int}}{suffix}", handlers.update_algorithm, methods=["PUT", "PATCH"]),
            Route(f"{algorithms}/{{id:int}}{suffix}", handlers.not_allowed, methods=["DELETE"]),
            Route(f"{algorithms}/{{id:int}}/users{suffix}", handlers.list_roles, methods=["GET"]),
            Route(f"{algorithms}/{{id:int}}/users{suffix}", handlers.add_role, methods=["POST"]),
            Route(f"{algorithms}/{{id:int}}/versions{suffix}", handlers.list_versions, methods=["GET"]),
            Route(f"{algorithms}/{{id:int}}/versions{suffix}", handlers.create_version, methods=["POST"]),
            Route(f"{algorithms}/{{id:int}}/versions/{{vid:int}}{suffix}", handlers.show_version, methods=["GET"]),
            Route(
                f"{algorithms}/{{id:int}}/versions/{{vid:int}}{suffix}",
                handlers.not_allowed,
                methods=["PUT", "PATCH", "DELETE"],
            ),
        ]
    routes.append(Route(f"{API}/files/{{sha}}/{{file_name}}", handlers.download, methods=["GET", "HEAD"]))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    # The body limit leaves room for the multipart framing around the package.
    return _BodyLimit(app, limits.max_upload_bytes + 1024 * 1024)  # type: ignore[arg-type]


@dataclass
class ServeResult:
    """What :func:`serve` reports when the server has stopped."""

    url: str
    location: RegistryLocation
    cleaned_scratch_entries: int


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MarketplaceError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port, or stop the program that uses it",
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def prepare(store: Store, reporter: Reporter) -> int:
    """Start-up housekeeping: remove what interrupted uploads left (scratch files, and blobs
    no version references; safe beside other servers: gc waits for their publishes)."""
    cleaned = store.clean_scratch()
    if cleaned:
        reporter.warning(f"removed {cleaned} leftover upload(s) from an interrupted run")
    orphans, freed = store.gc_blobs()
    if orphans:
        reporter.warning(f"removed {orphans} orphan blob(s) ({freed} bytes) of uploads that never committed")
    return cleaned


def serve(
    host: str,
    port: int,
    where: Union[Path, RegistryLocation],
    reporter: Reporter,
    *,
    public_url: Optional[str] = None,
    limits: Optional[PackageLimits] = None,
    access_log: bool = False,
    on_ready: Optional[Callable[[str], None]] = None,
    store: Optional[Store] = None,
    presign: Optional[int] = None,
) -> ServeResult:
    """Serve the marketplace API until interrupted (Ctrl-C / SIGTERM); blocking.

    ``where``: a data directory or a :class:`RegistryLocation`; ``port`` 0 picks a free port;
    ``on_ready`` receives the URL once it listens; ``store``: the store of ``where`` to serve
    (a test injects one with a ``before_commit`` hook); ``presign``: seconds the download
    URLs handed out stay valid, when they point to the S3 store itself.
    """
    import uvicorn

    location = as_location(where)
    store = store or Store(location)
    try:
        if presign and not location.blobs_in_s3:
            raise MarketplaceError(
                "--presign needs package files in S3 (--blobs s3://BUCKET/PREFIX)",
                hint="drop --presign: a local blob directory is served by this server",
            )
        cleaned = prepare(store, reporter)
        sock = _bind(host, port)
        url = _url(host, int(sock.getsockname()[1]))
        app = create_app(store, public_url=public_url, limits=limits, presign=presign)
        config = uvicorn.Config(app, log_level="warning", access_log=access_log, lifespan="off")
        server = uvicorn.Server(config)
        reporter.info(f"marketplace listening on {url} ({location.describe()})")
        if on_ready is not None:
            on_ready(url)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        store.close()
    return ServeResult(url=url, location=location, cleaned_scratch_entries=cleaned)
