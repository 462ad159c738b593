"""Administration of a self-hosted marketplace (the CLI's ``motivus marketplace user add |
token create | algorithm create | algorithm add-maintainer | gc``).

They work on the registry's storage directly (not over HTTP), so they can run while servers
run: every write is one short transaction (SQLite in WAL mode, or PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import ROLE_MAINTAINER, ROLE_OWNER, Store
from motivus_dev.reporter import NullReporter, Reporter

#: A data directory (the embedded defaults) or a registry's location.
Where = Union[Path, RegistryLocation]


@dataclass
class UserResult:
    """A user that was added."""

    id: int
    name: str


@dataclass
class TokenResult:
    """A new token. ``token`` is shown once: only its sha256 is stored."""

    user: str
    kind: str
    token: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"TokenResult(user={self.user!r}, kind={self.kind!r}, token=<hidden>)"


@dataclass
class AlgorithmResult:
    """An algorithm and the names of its owners and maintainers."""

    id: int
    name: str
    is_public: bool
    owners: List[str] = field(default_factory=list)
    maintainers: List[str] = field(default_factory=list)


def _algorithm_result(store: Store, algorithm_id: int) -> AlgorithmResult:
    algorithm = store.get_algorithm(algorithm_id)
    names = store.user_names()
    return AlgorithmResult(
        id=algorithm.id,
        name=algorithm.name,
        is_public=algorithm.is_public,
        owners=sorted(names[u] for u, r in algorithm.roles.items() if r == ROLE_OWNER),
        maintainers=sorted(names[u] for u, r in algorithm.roles.items() if r == ROLE_MAINTAINER),
    )


def add_user(where: Where, name: str, reporter: Optional[Reporter] = None) -> UserResult:
    """Add a user (names are unique)."""
    with Store(where) as store:
        row = store.add_user(name)
    (reporter or NullReporter()).info(f"added user {name}")
    return UserResult(id=row.id, name=row.name)


def create_token(where: Where, user: str, kind: str, reporter: Optional[Reporter] = None) -> TokenResult:
    """Create a ``personal`` (publishes) or ``application`` (reads, downloads) token."""
    with Store(where) as store:
        token = store.create_token(user, kind)
    (reporter or NullReporter()).info(f"created a {kind} token for {user}; it is shown only once")
    return TokenResult(user=user, kind=kind, token=token)


def create_algorithm(
    where: Where,
    name: str,
    owner: str,
    reporter: Optional[Reporter] = None,
    *,
    is_public: bool = True,
) -> AlgorithmResult:
    """Create an algorithm owned by user ``owner``."""
    with Store(where) as store:
        algorithm = store.create_algorithm(name, store.get_user(owner).id, is_public=is_public)
        (reporter or NullReporter()).info(f"created algorithm {name} owned by {owner}")
        return _algorithm_result(store, algorithm.id)


def add_maintainer(where: Where, algorithm: str, user: str, reporter: Optional[Reporter] = None) -> AlgorithmResult:
    """Let ``user`` publish versions of ``algorithm``."""
    with Store(where) as store:
        row = store.add_maintainer(algorithm, user)
        (reporter or NullReporter()).info(f"{user} is now a maintainer of {algorithm}")
        return _algorithm_result(store, row.id)


def collect_garbage(where: Where, reporter: Optional[Reporter] = None) -> Tuple[int, int]:
    """Remove blobs no version references (left by uploads lost or killed before their
    commit); returns (blobs, bytes) removed. Safe while the server runs."""
    with Store(where) as store:
        blobs, freed = store.gc_blobs()
    (reporter or NullReporter()).info(f"removed {blobs} orphan blob(s), {freed} bytes")
    return blobs, freed
