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
from marketplace_helpers import RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.marketplace.server.location import RegistryLocation
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
        headers = self.h(self.seed.alice if token is None else token)
        return self.http.post(f"{ALGOS}{aid}/versions", data=data, files=files, headers=headers)

    def get(self, path: str, token: Optional[str] = None, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.h(token), **kwargs)


def _start(tmp_path: Path, where: RegistryLocation, **kwargs: Any) -> Iterator[Env]:
    seed = Seed(where)
    server = RunningServer(where, **kwargs)
    env = Env(server, seed, tmp_path)
    try:
        yield env
    finally:
        env.http.close()
        server.stop()


@pytest.fixture()
def env(tmp_path: Path, registry: RegistryLocation) -> Iterator[Env]:
    """A seeded server on each backend (conftest.py's ``registry``)."""
    yield from _start(tmp_path, registry)


def test_auth_follows_the_platform(env: Env) -> None:
    """Anonymous reads of public algorithms; an unknown token is a plain-text 401; the
    platform's plain-text 401/403 bodies for calls that change something."""
    aid = env.seed.algorithm_id
    assert env.push("1.0.0").status_code == 201
    reads = (ALGOS, f"{ALGOS}?name=algo", f"{ALGOS}{aid}", f"{ALGOS}{aid}/versions", f"{ALGOS}{aid}/versions/1")
    for path in reads:
        anonymous = env.get(path, None)
        assert anonymous.status_code == 200, path
        assert "wasm_url" not in anonymous.text and "hash" not in anonymous.text  # the safe view
        unknown = env.get(path, "MWBatnot-a-token")
        assert (unknown.status_code, unknown.text, unknown.headers["content-type"].split(";")[0]) == (
            401, "invalid_token", "text/plain"
        )
    create = {"algorithm": {"name": "x", "cost": 1, "charge_schema": "PER_EXECUTION"}}
    assert (lambda r: (r.status_code, r.text))(env.http.post(ALGOS, json=create)) == (401, "unauthenticated")
    anonymous_push = env.push("2.0.0", token="")
    assert (anonymous_push.status_code, anonymous_push.text) == (403, "Not enough user previlieges")
    assert env.push("2.0.0", token="unknown").status_code == 401


def test_application_tokens_only_read_and_only_they_see_urls_and_hash(env: Env) -> None:
    assert env.push("1.0.0").status_code == 201
    aid = env.seed.algorithm_id
    create = {"algorithm": {"name": "x", "cost": 1, "charge_schema": "PER_EXECUTION"}}
    for response in (
        env.http.post(ALGOS, json=create, headers=env.h(env.seed.app)),
        env.push("2.0.0", env.seed.app),
        env.http.put(f"{ALGOS}{aid}", json={"algorithm": {"cost": 2}}, headers=env.h(env.seed.app)),
        env.get(f"{ALGOS}{aid}/users", env.seed.app),
    ):
        assert (response.status_code, response.text) == (403, "Not allowed using this token")
    [full] = env.get(f"{ALGOS}{aid}/versions", env.seed.app).json()["data"]
    assert {"hash", "wasm_url", "loader_url", "data_url"} <= set(full)
    [safe] = env.get(f"{ALGOS}{aid}/versions", env.seed.alice).json()["data"]
    assert set(safe) == {"id", "name", "metadata", "inserted_at"}  # a personal token: the safe view


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
    assert missing.status_code == 404 and missing.json() == {"errors": {"detail": "Not Found"}}


def test_create_and_update_algorithm(env: Env) -> None:
    def post(fields: dict, token: str) -> httpx.Response:
        return env.http.post(ALGOS, json={"algorithm": fields}, headers=env.h(token))

    terms = {"cost": 1.5, "charge_schema": "PER_MINUTE"}
    created = post(dict(terms, name="newalgo"), env.seed.bob)
    assert created.status_code == 201
    body = created.json()["data"]
    assert body["name"] == "newalgo" and body["versions"] == [] and body["is_public"] is False  # the default
    assert (body["cost"], body["charge_schema"]) == (1.5, "PER_MINUTE")
    assert created.headers["location"] == f"{ALGOS}{body['id']}"
    # bob created it, so bob (the OWNER) may publish to it.
    response = env.push(
        "1.0.0", env.seed.bob, algorithm_id=body["id"], pkg=build_package(env.tmp / "n", "newalgo", "1.0.0")
    )
    assert response.status_code == 201, response.text
    # names are unique whatever their case, and follow the platform's rule
    taken = post(dict(terms, name="NewAlgo"), env.seed.alice)
    assert taken.status_code == 422 and taken.json() == {"errors": {"name": ["has already been taken"]}}
    assert post(dict(terms, name="SPQR_mMC"), env.seed.alice).status_code == 201
    blank = post({}, env.seed.alice)
    assert blank.status_code == 422 and set(blank.json()["errors"]) == {"name", "cost", "charge_schema"}
    for bad in ("../x", "a--b", "-a"):
        refused = post(dict(terms, name=bad), env.seed.alice)
        assert refused.status_code == 422 and "name" in refused.json()["errors"], bad
    schema = post({"name": "y", "cost": 1, "charge_schema": "SOMETIMES"}, env.seed.alice)
    assert schema.status_code == 422 and schema.json() == {"errors": {"charge_schema": ["is invalid"]}}

    # only the OWNER updates is_public, cost and charge_schema
    path = f"{ALGOS}{body['id']}"
    update = {"algorithm": {"is_public": True, "cost": 3}}
    refused = env.http.put(path, json=update, headers=env.h(env.seed.alice))
    assert (refused.status_code, refused.text) == (404, '{"errors":{"detail":"Not Found"}}')  # private: not visible
    updated = env.http.patch(path, json=update, headers=env.h(env.seed.bob))
    assert updated.status_code == 200 and updated.json()["data"]["is_public"] is True
    assert updated.json()["data"]["cost"] == 3
    refused = env.http.put(path, json=update, headers=env.h(env.seed.alice))  # public now, still not the owner
    assert (refused.status_code, refused.text) == (403, "Not enough user previlieges")
    assert env.http.delete(path, headers=env.h(env.seed.bob)).text == "not allowed"


def test_the_owner_manages_roles(env: Env) -> None:
    aid = env.seed.algorithm_id
    users = f"{ALGOS}{aid}/users"
    [owner] = env.get(users, env.seed.alice).json()["data"]
    assert owner["role"] == "OWNER" and owner["user"]["username"] == "alice"
    assert env.get(users, env.seed.bob).text == "Not enough user previlieges"
    assert env.push("1.0.0", env.seed.bob).status_code == 403
    maintainer = {"algorithm_user": {"username_or_email": "bob", "role": "MAINTAINER"}}
    added = env.http.post(users, json=maintainer, headers=env.h(env.seed.alice))
    assert added.status_code == 201 and added.json()["data"]["role"] == "MAINTAINER"
    assert env.push("1.0.0", env.seed.bob).status_code == 201
    # a USER role needs its own cost and charge schema; an unknown user is a 404
    user = env.http.post(users, json={"algorithm_user": {"username_or_email": "bob", "role": "USER"}},
                         headers=env.h(env.seed.alice))
    assert user.status_code == 422 and set(user.json()["errors"]) == {"cost", "charge_schema"}
    nobody = env.http.post(users, json={"algorithm_user": {"username_or_email": "nobody", "role": "MAINTAINER"}},
                           headers=env.h(env.seed.alice))
    assert nobody.status_code == 404


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
    assert shown["hash"] is None  # the uploader sent none; the server computes none
    assert shown["package_hash"] == hashlib.sha256((env.tmp / "build/1.0.0/algo-1.0.0.zip").read_bytes()).hexdigest()
    assert shown["wasm_hash"] == hashlib.sha256(wasm).hexdigest()
    # Every served file matches its recorded sha256; no token is needed to download.
    for url_key, hash_key, expected in (
        ("wasm_url", "wasm_hash", wasm),
        ("data_url", "data_hash", data),
        ("loader_url", "loader_hash", None),
        ("package_url", "package_hash", None),
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
    assert (forbidden.status_code, forbidden.text) == (403, "Not enough user previlieges")
    assert env.push("1.0.0", env.seed.app).status_code == 403  # application tokens read only
    from motivus_dev.marketplace.server import admin

    admin.add_maintainer(env.seed.where, "algo", "bob")
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
            if method != "DELETE" and path.endswith(f"{aid}"):
                continue  # the owner may update an algorithm's terms (not its versions)
            assert (response.status_code, response.text) == (405, "not allowed"), (method, path)


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
    store = env.server.store
    assert store.get_algorithm(env.seed.algorithm_id).versions == []
    assert list(store.blobs.digests()) == []
    assert list(store.blobs.scratch_root().iterdir()) == []


def test_upload_limit_gives_413(tmp_path: Path, registry: RegistryLocation) -> None:
    for env in _start(tmp_path, registry, limits=PackageLimits(max_upload_bytes=50_000)):
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
    from motivus_dev.marketplace.server import admin

    private = admin.create_algorithm(env.seed.where, "secret", "alice", is_public=False)
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
    store = env.server.store
    versions = store.get_algorithm(env.seed.algorithm_id).versions
    assert len(versions) == 8 * 4 + 1
    assert store.integrity_problems() == []


def test_deeply_nested_json_is_a_422_not_a_500(env: Env) -> None:
    deep = "[" * 100_000
    created = env.http.post(
        ALGOS, content=deep, headers=dict(env.h(env.seed.alice), **{"content-type": "application/json"})
    )
    assert created.status_code == 422 and "nests too deeply" in created.text
    pkg = build_package(env.tmp / "deep", "algo", "1.0.0")
    files = {"package": (pkg.name, pkg.read_bytes(), "application/zip")}
    response = env.http.post(
        f"{ALGOS}{env.seed.algorithm_id}/versions", data={"version": deep}, files=files, headers=env.h(env.seed.alice)
    )
    assert response.status_code == 422 and response.json() == {"errors": {"version": ["nests too deeply"]}}


def test_hash_is_what_the_uploader_sent_never_computed(env: Env) -> None:
    # the published 2.4.0 CLI sends no hash: the version's hash is null, as on the platform
    assert env.push("1.0.0").status_code == 201
    pkg = build_package(env.tmp / "h", "algo", "2.0.0")
    files = {"package": (pkg.name, pkg.read_bytes(), "application/zip")}
    sent = env.http.post(f"{ALGOS}{env.seed.algorithm_id}/versions", files=files, headers=env.h(env.seed.alice),
                         data={"version": json.dumps({"name": "2.0.0", "metadata": {}, "hash": "abc123"})})
    assert sent.status_code == 201, sent.text
    listed = env.get(f"{ALGOS}{env.seed.algorithm_id}/versions", env.seed.app).json()["data"]
    hashes = {v["name"]: v["hash"] for v in listed}
    assert hashes == {"1.0.0": None, "2.0.0": "abc123"}
