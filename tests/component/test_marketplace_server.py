"""The local marketplace server over real HTTP (port 0): every call and status code,
auth rules, immutability, validation before storage, concurrency."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

from motivus_dev.marketplace.server import RunningServer
from motivus_dev.marketplace.store import Store
from motivus_dev.marketplace.testing import Seed, build_package, data_zip, minimal_wasm
from motivus_dev.marketplace.validation import PackageLimits

ALGOS = "/api/package_registry/algorithms/"


class Env:
    def __init__(self, server: RunningServer, seed: Seed, tmp: Path) -> None:
        self.server = server
        self.seed = seed
        self.tmp = tmp
        self.http = httpx.Client(base_url=server.url, timeout=60)

    def h(self, token: Optional[str]) -> Dict[str, str]:
        if token is None:
            return {}
        return {"authorization": f"Bearer {token}" if token else "Bearer"}

    def push(
        self,
        version: str,
        token: Optional[str] = None,
        *,
        pkg: Optional[Path] = None,
        file_name: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        algorithm_id: Optional[int] = None,
        **kwargs: Any,
    ) -> httpx.Response:
        name = self.seed.algorithm
        pkg = pkg or build_package(self.tmp / "build" / version, name, version, **kwargs)
        files = {"package": (file_name or pkg.name, pkg.read_bytes(), "application/zip")}
        data = {"version": json.dumps({"name": version, "metadata": metadata or {"author": "A"}})}
        aid = algorithm_id or self.seed.algorithm_id
        return self.http.post(
            f"{ALGOS}{aid}/versions", data=data, files=files, headers=self.h(token or self.seed.alice)
        )

    def get(self, path: str, token: Optional[str] = None, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.h(token), **kwargs)


def _start(tmp_path: Path, **kwargs: Any) -> Iterator[Env]:
    seed = Seed(tmp_path / "data")
    server = RunningServer(tmp_path / "data", **kwargs)
    env = Env(server, seed, tmp_path)
    try:
        yield env
    finally:
        env.http.close()
        server.stop()


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    yield from _start(tmp_path)


def test_every_call_requires_a_known_token(env: Env) -> None:
    aid = env.seed.algorithm_id
    assert env.push("1.0.0").status_code == 201
    for token in (None, "", "unknown-token"):
        for path in (
            ALGOS,
            f"{ALGOS}?name=algo",
            f"{ALGOS}{aid}",
            f"{ALGOS}{aid}/versions",
            f"{ALGOS}{aid}/versions/1",
        ):
            response = env.get(path, token)
            assert response.status_code == 401, (path, token)
            assert "unauthorized" in response.json()["errors"]["detail"][0]
        assert env.http.post(ALGOS, json={"algorithm": {"name": "x"}}, headers=env.h(token)).status_code == 401
        response = env.push("2.0.0", token=token or "unknown")
        assert response.status_code == 401


def test_list_and_show_algorithms(env: Env) -> None:
    created = env.push("0.0.1", metadata={"short_description": "s", "author": "me", "dropped": "x"})
    assert created.status_code == 201
    listed = env.get(f"{ALGOS}?name=algo", env.seed.app)
    assert listed.status_code == 200
    [algorithm] = listed.json()["data"]
    assert set(algorithm) == {"id", "name", "is_public", "cost", "charge_schema", "inserted_at", "versions"}
    assert algorithm["name"] == "algo" and algorithm["id"] == env.seed.algorithm_id
    [version] = algorithm["versions"]
    assert version["name"] == "0.0.1"
    assert version["metadata"] == {"short_description": "s", "author": "me"}
    assert env.get(f"{ALGOS}?name=nothing", env.seed.app).json() == {"data": []}
    assert len(env.get(ALGOS, env.seed.alice).json()["data"]) == 1
    # The path without the trailing slash is answered too (no redirect).
    assert env.get("/api/package_registry/algorithms?name=algo", env.seed.app).status_code == 200
    shown = env.get(f"{ALGOS}{env.seed.algorithm_id}", env.seed.bob)
    assert shown.status_code == 200 and shown.json()["data"]["name"] == "algo"
    missing = env.get(f"{ALGOS}999", env.seed.app)
    assert missing.status_code == 404 and missing.json() == {"errors": {"detail": ["Not Found"]}}


def test_create_algorithm(env: Env) -> None:
    created = env.http.post(ALGOS, json={"algorithm": {"name": "newalgo"}}, headers=env.h(env.seed.bob))
    assert created.status_code == 201
    body = created.json()["data"]
    assert body["name"] == "newalgo" and body["versions"] == []
    assert created.headers["location"] == f"{ALGOS}{body['id']}"
    # bob created it, so bob (the OWNER) may publish to it.
    response = env.push(
        "1.0.0", env.seed.bob, algorithm_id=body["id"], pkg=build_package(env.tmp / "n", "newalgo", "1.0.0")
    )
    assert response.status_code == 201, response.text
    taken = env.http.post(ALGOS, json={"algorithm": {"name": "newalgo"}}, headers=env.h(env.seed.alice))
    assert taken.status_code == 422 and taken.json() == {"errors": {"name": ["has already been taken"]}}
    blank = env.http.post(ALGOS, json={"algorithm": {}}, headers=env.h(env.seed.alice))
    assert blank.status_code == 422 and blank.json() == {"errors": {"name": ["can't be blank"]}}
    bad = env.http.post(ALGOS, json={"algorithm": {"name": "../x"}}, headers=env.h(env.seed.alice))
    assert bad.status_code == 422 and "invalid algorithm name" in bad.json()["errors"]["name"][0]
    app = env.http.post(ALGOS, json={"algorithm": {"name": "other"}}, headers=env.h(env.seed.app))
    assert app.status_code == 403


def test_publish_and_read_versions(env: Env) -> None:
    data = data_zip({"in/data.txt": b"hello"})
    wasm = minimal_wasm(1000)
    response = env.push("1.0.0", wasm=wasm, data=data)
    assert response.status_code == 201, response.text
    version = response.json()["data"]
    assert response.headers["location"] == f"{ALGOS}{env.seed.algorithm_id}/versions/{version['id']}"
    assert version["name"] == "1.0.0" and "hash" not in version  # personal token: no download fields
    aid = env.seed.algorithm_id
    listed = env.get(f"{ALGOS}{aid}/versions", env.seed.app).json()["data"]
    assert [v["name"] for v in listed] == ["1.0.0"]
    shown = env.get(f"{ALGOS}{aid}/versions/{version['id']}", env.seed.app).json()["data"]
    assert shown["hash"] == hashlib.sha256((env.tmp / "build/1.0.0/algo-1.0.0.zip").read_bytes()).hexdigest()
    assert shown["wasm_hash"] == hashlib.sha256(wasm).hexdigest()
    # Every served file matches its recorded sha256; no token is needed to download.
    for url_key, hash_key, expected in (
        ("wasm_url", "wasm_hash", wasm),
        ("data_url", "data_hash", data),
        ("loader_url", "loader_hash", None),
        ("package_url", "hash", None),
    ):
        got = httpx.get(shown[url_key])
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == shown[hash_key]
        if expected is not None:
            assert got.content == expected
    assert httpx.get(shown["wasm_url"]).headers["content-type"] == "application/wasm"
    assert env.get(f"{ALGOS}{aid}/versions/999", env.seed.app).status_code == 404
    assert env.get(f"{ALGOS}999/versions", env.seed.app).status_code == 404


def test_download_fields_only_for_application_tokens(env: Env) -> None:
    assert env.push("1.0.0").status_code == 201
    fields = {"hash", "wasm_url", "loader_url", "data_url"}
    [personal] = env.get(f"{ALGOS}?name=algo", env.seed.alice).json()["data"][0]["versions"]
    assert not fields & set(personal)
    [app] = env.get(f"{ALGOS}?name=algo", env.seed.app).json()["data"][0]["versions"]
    assert fields <= set(app) and app["data_url"] is None


def test_only_owner_or_maintainer_may_publish(env: Env) -> None:
    forbidden = env.push("1.0.0", env.seed.bob)
    assert forbidden.status_code == 403
    assert "not an owner or maintainer" in forbidden.json()["errors"]["detail"][0]
    assert env.push("1.0.0", env.seed.app).status_code == 403  # application tokens read only
    from motivus_dev.marketplace import admin

    admin.add_maintainer(env.seed.data_dir, "algo", "bob")
    assert env.push("1.0.0", env.seed.bob).status_code == 201


def test_published_versions_are_immutable(env: Env) -> None:
    first = env.push("1.0.0", wasm=minimal_wasm(100))
    assert first.status_code == 201
    before = env.get(f"{ALGOS}?name=algo", env.seed.app).json()["data"][0]["versions"]
    again = env.push("1.0.0", wasm=minimal_wasm(200))  # other bytes, same version
    assert again.status_code == 422
    assert again.json() == {"errors": {"name": ["has already been taken"]}}
    after = env.get(f"{ALGOS}?name=algo", env.seed.app).json()["data"][0]["versions"]
    assert after == before
    assert hashlib.sha256(httpx.get(after[0]["wasm_url"]).content).hexdigest() == before[0]["wasm_hash"]
    aid, vid = env.seed.algorithm_id, first.json()["data"]["id"]
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (f"{ALGOS}{aid}/versions/{vid}", f"{ALGOS}{aid}"):
            response = env.http.request(method, path, headers=env.h(env.seed.alice))
            assert response.status_code == 405, (method, path)
            assert "immutable" in response.json()["errors"]["detail"][0]


@pytest.mark.parametrize(
    "case,field,message",
    [
        ("file_name", "package", "file name must be 'algo-1.0.0.zip'"),
        ("contents", "package", "incorrect package contents"),
        ("wasm", "package", "not a valid WebAssembly module"),
        ("slip", "package", "unsafe entry"),
        ("not_zip", "package", "not a valid zip file"),
        ("no_package", "package", "can't be blank"),
        ("bad_version", "name", "invalid version name"),
        ("bad_json", "version", "is not valid JSON"),
    ],
)
def test_bad_uploads_are_refused_before_anything_is_stored(env: Env, case: str, field: str, message: str) -> None:
    tmp = env.tmp / case
    if case == "file_name":
        response = env.push("1.0.0", file_name="algo.zip")
    elif case == "contents":
        response = env.push("1.0.0", pkg=build_package(tmp, "algo", "0.0.9", file_name="algo-1.0.0.zip"))
    elif case == "wasm":
        response = env.push("1.0.0", wasm=b"not wasm")
    elif case == "slip":
        response = env.push("1.0.0", extra={"../../x": b"x"})
    elif case == "not_zip":
        tmp.mkdir()
        bogus = tmp / "algo-1.0.0.zip"
        bogus.write_bytes(b"plain text")
        response = env.push("1.0.0", pkg=bogus)
    elif case == "bad_version":
        response = env.push("1/0", pkg=build_package(tmp, "algo", "1.0.0"))
    else:
        body: Dict[str, Any] = {"version": "{not json" if case == "bad_json" else json.dumps({"name": "1.0.0"})}
        files = None if case == "no_package" else {"package": ("algo-1.0.0.zip", b"x", "application/zip")}
        response = env.http.post(
            f"{ALGOS}{env.seed.algorithm_id}/versions",
            data=body,
            files=files or {"other": ("f", b"")},
            headers=env.h(env.seed.alice),
        )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert message in errors[field][0]
    store = Store(env.seed.data_dir)
    assert store.get_algorithm(env.seed.algorithm_id).versions == []
    assert list(store.blob_dir.iterdir()) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_upload_limit_gives_413(tmp_path: Path) -> None:
    for env in _start(tmp_path, limits=PackageLimits(max_upload_bytes=50_000)):
        response = env.push("1.0.0", wasm=minimal_wasm(200_000))
        assert response.status_code == 413
        assert "too large" in response.json()["errors"]["package"][0]


def test_downloads_of_unknown_files_are_404(env: Env) -> None:
    assert env.push("1.0.0").status_code == 201
    [version] = env.get(f"{ALGOS}?name=algo", env.seed.app).json()["data"][0]["versions"]
    sha = version["wasm_hash"]
    base = f"{env.server.url}/api/package_registry/files"
    assert httpx.get(f"{base}/{sha}/algo-1.0.0.wasm").status_code == 200
    assert httpx.get(f"{base}/{sha}/other-1.0.0.wasm").status_code == 404
    assert httpx.get(f"{base}/{'0' * 64}/algo-1.0.0.wasm").status_code == 404
    assert httpx.get(f"{base}/../../etc/passwd").status_code == 404


def test_private_algorithms_are_hidden_from_other_users(env: Env) -> None:
    from motivus_dev.marketplace import admin

    private = admin.create_algorithm(env.seed.data_dir, "secret", "alice", is_public=False)
    assert env.get(f"{ALGOS}?name=secret", env.seed.tokens["bob_application"]).json() == {"data": []}
    assert env.get(f"{ALGOS}{private.id}", env.seed.bob).status_code == 404
    assert len(env.get(f"{ALGOS}?name=secret", env.seed.app).json()["data"]) == 1


def test_parallel_pushes_and_downloads_keep_the_store_consistent(env: Env) -> None:
    """8 publishers (32 versions) and 4 readers at once; then the DB and every blob check out,
    and a same-version race has exactly one winner."""
    errors: List[str] = []
    start = threading.Barrier(12 + 6)

    def publisher(worker: int) -> None:
        with httpx.Client(base_url=env.server.url, timeout=120) as http:
            start.wait()
            for i in range(4):
                version = f"{worker}.{i}.0"
                pkg = build_package(env.tmp / f"p{worker}" / version, "algo", version, wasm=minimal_wasm(20_000 + i))
                response = http.post(
                    f"{ALGOS}{env.seed.algorithm_id}/versions",
                    data={"version": json.dumps({"name": version, "metadata": {}})},
                    files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
                    headers=env.h(env.seed.alice),
                )
                if response.status_code != 201:
                    errors.append(f"push {version}: {response.status_code} {response.text}")

    def reader() -> None:
        with httpx.Client(base_url=env.server.url, timeout=120) as http:
            start.wait()
            for _ in range(15):
                listed = http.get(f"{ALGOS}?name=algo", headers=env.h(env.seed.app))
                if listed.status_code != 200:
                    errors.append(f"list: {listed.status_code}")
                    continue
                for version in listed.json()["data"][0]["versions"][-3:]:
                    content = http.get(version["wasm_url"]).content
                    if hashlib.sha256(content).hexdigest() != version["wasm_hash"]:
                        errors.append(f"download of {version['name']} does not match its hash")

    racers: List[int] = []

    def racer(n: int) -> None:
        pkg = build_package(env.tmp / f"race{n}", "algo", "9.9.9", wasm=minimal_wasm(1000 + n))
        with httpx.Client(base_url=env.server.url, timeout=120) as http:
            start.wait()
            response = http.post(
                f"{ALGOS}{env.seed.algorithm_id}/versions",
                data={"version": json.dumps({"name": "9.9.9", "metadata": {}})},
                files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
                headers=env.h(env.seed.alice),
            )
            racers.append(response.status_code)

    threads = [threading.Thread(target=publisher, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert sorted(racers) == [201] + [422] * 5
    store = Store(env.seed.data_dir)
    versions = store.get_algorithm(env.seed.algorithm_id).versions
    assert len(versions) == 8 * 4 + 1
    assert store.integrity_problems() == []
