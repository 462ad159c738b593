"""``motivus push``: publish ``build/NAME-VERSION.zip`` as a version of algorithm NAME.

Order of work: local checks (the package exists, is named after motivus.yml's name and
version, is a well-formed zip with the loader and the wasm), then, unless ``dry_run``, look
the algorithm up, then upload with retries. Only transient failures are retried
(connection errors, 502/503/504) with exponential backoff; a 4xx is final. The token is
never written into a message or a result.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, TypeVar

from motivus_dev.errors import MarketplaceError, PackageError
from motivus_dev.layout import PackageLayout
from motivus_dev.marketplace.client.api import (
    TRANSIENT_STATUSES,
    RegistryClient,
    RegistryHTTPError,
    RegistryUnreachable,
    algorithms_url,
    error_fields,
    format_errors,
    redact,
)
from motivus_dev.marketplace.validation import (
    CHARGE_SCHEMAS,
    PackageLimits,
    PackageRejected,
    clean_metadata,
    inspect_package,
    package_file_name,
    sha256_file,
)
from motivus_dev.reporter import Reporter

T = TypeVar("T")

# The platform's plain-text 403 bodies, and what each means for the author.
_FORBIDDEN_REASONS = {
    "Not allowed using this token": (
        "the token is an application token, which can only read",
        "publish with a personal access token (MOTIVUS_PERSONAL_ACCESS_TOKEN, or PERSONAL_ACCESS_TOKEN in .env)",
    ),
    "Not enough user previlieges": (
        "your user is not an owner or maintainer of the algorithm",
        "ask the algorithm's owner to add you as a MAINTAINER",
    ),
}


@dataclass(frozen=True)
class NewAlgorithm:
    """The terms of an algorithm that ``push --create-algorithm`` creates (the platform
    requires ``cost`` and ``charge_schema``; ``is_public`` defaults to false there)."""

    cost: float = 0.0
    charge_schema: str = "PER_EXECUTION"
    is_public: bool = False

    def __post_init__(self) -> None:
        if self.charge_schema not in CHARGE_SCHEMAS:
            raise MarketplaceError(
                f"charge schema {self.charge_schema!r} is not one of {', '.join(CHARGE_SCHEMAS)}",
                hint="use --charge-schema PER_EXECUTION or PER_MINUTE",
            )
        if self.cost < 0:
            raise MarketplaceError(f"cost {self.cost} is negative", hint="use --cost 0 or more")


def forbidden(response: Any, what: str, default_reason: str, default_hint: str) -> MarketplaceError:
    """A 403 as the author should read it: the server's reason, translated when known."""
    said = response.text.strip()[:200]
    reason, hint = _FORBIDDEN_REASONS.get(said, (default_reason, default_hint))
    told = f" (the marketplace said: {said})" if said else ""
    return MarketplaceError(f"{what}: {reason}{told}", hint=hint)


def wasm_sha256(package_zip: Path, name: str, version: str) -> str:
    """The sha256 of the package's .wasm: the ``hash`` push publishes, which a driver can
    check against the file it downloads (the platform stores ``hash`` and computes none)."""
    with zipfile.ZipFile(package_zip) as archive:
        with archive.open(PackageLayout.of(name, version).wasm) as member:
            digest = hashlib.sha256()
            for chunk in iter(lambda: member.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass
class PushResult:
    """What was (or, with ``dry_run``, would be) published. Never holds the token."""

    name: str
    version: str
    registry_url: str
    package: str
    package_sha256: str
    package_size: int
    metadata: Dict[str, Any]
    dry_run: bool
    algorithm_id: Optional[Any] = None
    version_id: Optional[Any] = None
    location: Optional[str] = None
    attempts: int = 0
    created_algorithm: bool = False
    files: Dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (for ``--json``)."""
        return asdict(self)


def prepare_metadata(metadata: Dict[str, Any], project_dir: Path) -> Dict[str, Any]:
    """The spec's metadata fields; a ``long_description`` naming a ``.md`` file is replaced
    by the file's text (relative to ``project_dir``), as the published CLI does."""
    kept = clean_metadata(metadata)
    long_description = kept.get("long_description")
    if isinstance(long_description, str) and long_description.lower().endswith(".md"):
        path = (Path(project_dir) / long_description).resolve()
        try:
            kept["long_description"] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PackageError(
                f"long_description names {long_description}, which cannot be read: {exc.strerror or exc}",
                hint="fix package.metadata.long_description in motivus.yml",
            ) from exc
    return kept


def check_package(package_zip: Path, name: str, version: str) -> Dict[str, int]:
    """Local checks before anything is sent; returns the member sizes by role."""
    package_zip = Path(package_zip)
    expected = package_file_name(name, version)
    if not package_zip.is_file():
        raise PackageError(
            f"package {package_zip} does not exist",
            hint="run `motivus build` first",
        )
    if package_zip.name != expected:
        raise PackageError(
            f"package {package_zip.name} does not match motivus.yml (name {name}, version {version}: {expected})",
            hint="run `motivus build` to build the version motivus.yml names",
        )
    try:
        roles = inspect_package(package_zip, name, version, PackageLimits())
    except PackageRejected as exc:
        raise PackageError(f"{package_zip} is not a valid package: {exc.reason}", hint="run `motivus build`") from exc
    return {role: entry.file_size for role, entry in roles.items()}


def _retrying(
    action: Callable[[], T],
    *,
    what: str,
    retries: int,
    backoff_s: float,
    reporter: Reporter,
    is_transient: Callable[[T], bool],
    on_attempt: Optional[Callable[[int], None]] = None,
) -> T:
    """Run ``action`` up to ``retries + 1`` times while it fails transiently."""
    attempt = 0
    while True:
        attempt += 1
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            outcome = action()
        except RegistryUnreachable as exc:
            if attempt > retries:
                raise
            reason = exc.message
        else:
            if not is_transient(outcome) or attempt > retries:
                return outcome
            reason = f"the marketplace answered {getattr(outcome, 'status_code', '?')}"
        # Exponential backoff with jitter, so many CI jobs do not retry in lockstep.
        delay = backoff_s * (2 ** (attempt - 1)) * (1 + random.random() * 0.25)
        reporter.warning(f"{what} failed ({reason}); retrying in {delay:.1f}s ({attempt}/{retries})")
        time.sleep(delay)


def _transient_response(response: Any) -> bool:
    return int(getattr(response, "status_code", 0)) in TRANSIENT_STATUSES


def push(
    package_zip: Path,
    name: str,
    version: str,
    metadata: Dict[str, Any],
    registry_url: str,
    token: Optional[str],
    token_source_var: str,
    reporter: Reporter,
    dry_run: bool = False,
    retries: int = 4,
    *,
    backoff_s: float = 1.0,
    timeout_s: float = 300.0,
    create_algorithm: Optional[NewAlgorithm] = None,
) -> PushResult:
    """Publish ``package_zip`` as version ``version`` of algorithm ``name``.

    ``metadata`` is sent as given, less the fields the spec does not keep: the six string
    fields, strings only, as the platform casts them (call :func:`prepare_metadata` first to
    inline a ``.md`` long description; a dropped field is warned about).
    ``token_source_var`` names where the token came from, for the 401 message.
    ``create_algorithm`` creates a missing algorithm on these terms (the token's user
    becomes its owner).
    Raises :class:`PackageError` for local problems, :class:`MarketplaceError` otherwise.
    """
    package_zip = Path(package_zip)
    sizes = check_package(package_zip, name, version)
    kept = clean_metadata(metadata)
    for key in sorted(set(metadata) - set(kept)):
        reporter.warning(
            f"metadata field {key!r} is not sent: the marketplace keeps only short_description, "
            "long_description, license, author, url and upstream_url, as strings"
        )
    result = PushResult(
        name=name,
        version=version,
        registry_url=algorithms_url(registry_url),
        package=str(package_zip),
        package_sha256=sha256_file(package_zip),
        package_size=package_zip.stat().st_size,
        metadata=kept,
        dry_run=dry_run,
        files=sizes,
    )
    if dry_run:
        reporter.info(
            f"dry run: would upload {package_zip.name} ({result.package_size} bytes, sha256 "
            f"{result.package_sha256}) as {name} {version} to {result.registry_url}"
        )
        reporter.info(f"dry run: metadata fields: {', '.join(sorted(kept)) or 'none'}")
        return result
    if not token:
        raise MarketplaceError(
            "no personal access token",
            hint="set MOTIVUS_PERSONAL_ACCESS_TOKEN (or PERSONAL_ACCESS_TOKEN in .env)",
        )
    try:
        with RegistryClient(registry_url, token, timeout_s=timeout_s) as client:
            _push_with(
                client, result, package_zip, kept, token_source_var, reporter, retries, backoff_s, create_algorithm
            )
    except MarketplaceError as exc:
        # Last line of defence: whatever was built above, the token does not leave.
        exc.message = redact(exc.message, token)
        exc.args = (exc.message,)
        if exc.hint:
            exc.hint = redact(exc.hint, token)
        raise
    return result


def _auth_error(token_source_var: str, what: str) -> MarketplaceError:
    return MarketplaceError(
        f"{what}: the marketplace refused the token (401 unauthorized)",
        hint=f"check the token read from {token_source_var}: it must be a valid personal access token",
    )


def _push_with(
    client: RegistryClient,
    result: PushResult,
    package_zip: Path,
    metadata: Dict[str, Any],
    token_source_var: str,
    reporter: Reporter,
    retries: int,
    backoff_s: float,
    create_algorithm: Optional[NewAlgorithm],
) -> None:
    name, version = result.name, result.version
    reporter.step(f"looking up algorithm {name}")
    response, algorithm = _retrying(
        lambda: client.find_algorithm(name),
        what="looking up the algorithm",
        retries=retries,
        backoff_s=backoff_s,
        reporter=reporter,
        is_transient=lambda r: _transient_response(r[0]),
    )
    if response.status_code == 401:
        raise _auth_error(token_source_var, f"looking up algorithm {name}")
    client.check(response, f"looking up algorithm {name}")
    if algorithm is None:
        if create_algorithm is None:
            raise MarketplaceError(
                f"algorithm {name!r} does not exist on {client.registry_url}",
                hint="create it on the marketplace first (self-hosted: `motivus marketplace algorithm create "
                f"{name} --owner USER`), or push with --create-algorithm",
            )
        created = client.create_algorithm(
            name,
            cost=create_algorithm.cost,
            charge_schema=create_algorithm.charge_schema,
            is_public=create_algorithm.is_public,
        )
        if created.status_code == 401:
            raise _auth_error(token_source_var, f"creating algorithm {name}")
        if created.status_code == 403:
            raise forbidden(
                created, f"creating algorithm {name}", "the marketplace refused (403 forbidden)",
                "creating an algorithm needs a personal access token",
            )
        client.check(created, f"creating algorithm {name}")
        algorithm = client.json_data(created, f"creating algorithm {name}")
        result.created_algorithm = True
        reporter.info(f"created algorithm {name}")
    if not isinstance(algorithm, dict) or "id" not in algorithm:
        raise MarketplaceError(f"the marketplace's answer for algorithm {name!r} has no id")
    result.algorithm_id = algorithm["id"]

    version_json = json.dumps({"name": version, "metadata": metadata, "hash": wasm_sha256(package_zip, name, version)})

    def start_attempt(attempt: int) -> None:
        result.attempts = attempt
        reporter.step(f"uploading {package_zip.name}", total=float(result.package_size))

    response = _retrying(
        lambda: client.upload_version(
            result.algorithm_id, version_json, package_zip, package_zip.name, lambda n: reporter.advance(float(n))
        ),
        what="the upload",
        retries=retries,
        backoff_s=backoff_s,
        reporter=reporter,
        is_transient=_transient_response,
        on_attempt=start_attempt,
    )
    status = response.status_code
    if status == 401:
        raise _auth_error(token_source_var, f"pushing {name} {version}")
    if status == 403:
        raise forbidden(
            response, f"pushing {name} {version}", f"the marketplace refused to let you publish to {name} (403)",
            "only the algorithm's owner or its maintainers can push, with a personal access token",
        )
    errors = error_fields(response) if status >= 400 else {}
    if status == 422 and any("taken" in msg for msg in errors.get("name", [])):
        note = " (an earlier attempt whose answer was lost may have published it)" if result.attempts > 1 else ""
        raise MarketplaceError(
            f"version {version} of {name} is already published{note}; published versions are immutable",
            hint="bump package.version in motivus.yml, run `motivus build`, then push again",
        )
    if status in (413, 422):
        raise MarketplaceError(
            f"the marketplace refused the package {package_zip.name}: {format_errors(errors)}",
            hint="fix the package (run `motivus build`) and push again",
        )
    try:
        client.check(response, f"pushing {name} {version}")
    except RegistryHTTPError as exc:
        if status in TRANSIENT_STATUSES:
            exc.hint = f"the marketplace is unavailable; gave up after {result.attempts} attempts, try again later"
        raise
    data = client.json_data(response, f"pushing {name} {version}")
    if not isinstance(data, dict) or data.get("id") is None:
        raise MarketplaceError(f"pushing {name} {version}: the marketplace's answer has no version id")
    result.version_id = data["id"]
    result.location = response.headers.get("location")
