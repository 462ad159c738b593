"""Where `motivus build` compiles, and what it says when it cannot: no Docker needed."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import pytest

from motivus_dev import build
from motivus_dev.errors import ToolchainError
from motivus_dev.toolchain import doctor
from motivus_dev.toolchain.kind import Executor


def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("motivus_dev.toolchain.docker.engine_available",
                        lambda: "no Docker engine answers: nothing at DOCKER_HOST=unix:///gone (no such socket)")


def test_auto_uses_docker_when_an_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("motivus_dev.toolchain.docker.engine_available", lambda: None)
    assert build.choose_toolchain("auto") == (Executor.DOCKER, "a Docker engine is reachable")
    assert build.choose_toolchain("docker")[0] is Executor.DOCKER
    assert build.choose_toolchain("host") == (Executor.HOST, "asked for with --toolchain host")


def test_auto_falls_back_to_the_host_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    no_engine(monkeypatch)
    where, why = build.choose_toolchain("auto")
    assert where is Executor.HOST
    assert why == "no Docker engine answers: nothing at DOCKER_HOST=unix:///gone (no such socket)"


def test_docker_without_an_engine_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    no_engine(monkeypatch)
    with pytest.raises(ToolchainError) as info:
        build.choose_toolchain("docker")
    assert "no Docker engine" in info.value.message and "--toolchain host" in str(info.value.hint)


def test_no_engine_and_no_host_tools_gives_the_doctors_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing_everything(argv: Sequence[str]) -> Tuple[int, str]:
        return 127, f"{argv[0]}: not found"

    checks: List[doctor.Check] = doctor.check_host_tools(run=missing_everything, toolchains=["mvcc"])
    monkeypatch.setattr(doctor, "check_host_tools", lambda toolchains: checks)
    with pytest.raises(ToolchainError) as info:
        build._check_host_tools("mvcc")
    text = str(info.value)
    assert "emcc" in text and "not usable" in text
    assert "apt-get install -y --no-install-recommends emscripten" in text  # ready to paste
