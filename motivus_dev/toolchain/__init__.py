"""The mvrc (Rust) and mvcc (C/C++) toolchains: build plans and the executors that run them.

:mod:`.plan` turns a project's build settings into a :class:`~.plan.BuildPlan` (pure);
:mod:`.docker` runs a plan in the toolchain's image, :mod:`.host` runs it on the host;
:mod:`.images` knows which image versions this release uses; :mod:`.doctor` says what is
missing and how to fix it.
"""

from __future__ import annotations

from motivus_dev.toolchain.plan import BuildInput, BuildPlan, Mount, make_plan

__all__ = ["BuildInput", "BuildPlan", "Mount", "make_plan"]
