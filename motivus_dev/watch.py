"""``--watch``: run a build (and more) again each time the project's build inputs change.

The operating system says when files change (watchfiles: inotify on Linux, debounced), and
the build's own fingerprint decides whether what changed is an input: a saved source, the
packed filesystem or motivus.yml start a cycle; a driver, a README or the build's outputs
do not, without a second list of what the build reads. For ``motivus test --watch`` the
fixtures are inputs too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Tuple

from motivus_dev.errors import MotivusError
from motivus_dev.reporter import Reporter
from motivus_dev.toolchain.kind import SKIP_DIRS

#: Saves come in bursts (an editor writes a temporary file, renames it, touches the
#: directory): one cycle for the burst.
DEBOUNCE_MS = 300


def input_state(project_dir: Path, extra: Iterable[Path] = ()) -> str:
    """What the next cycle depends on: the build's fingerprint, and the contents of
    ``extra`` (the fixtures, for ``motivus test``). Raises the kit's errors (a motivus.yml
    being edited may not parse for a moment)."""
    import hashlib

    from motivus_dev.build import fingerprint, toolchain_ref
    from motivus_dev.config import load_config
    from motivus_dev.toolchain.kind import walk

    config = load_config(project_dir)
    digest = hashlib.sha256(fingerprint(config, toolchain_ref(config)).encode())
    for root in extra:
        for path in sorted(walk(root)) if root.is_dir() else [root]:
            if path.is_file():
                digest.update(f"\0{path}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def watch(project_dir: Path, cycle: Callable[[List[str]], None], reporter: Reporter, *,
          extra: Iterable[Path] = (), stop: Optional[threading.Event] = None,
          on_error: Optional[Callable[[MotivusError], None]] = None, first: bool = True) -> None:
    """Call ``cycle(changed)`` once now (``changed`` empty; not when ``first`` is False) and
    again after each change of the inputs (``changed``: the paths that changed, relative to
    the project), until ``stop`` is set or Ctrl-C (KeyboardInterrupt, which the caller turns
    into a clean end). A cycle's error of the kit is the cycle's: ``on_error`` shows it (a
    warning by default) and watching goes on."""
    import watchfiles

    project_dir = project_dir.resolve()
    extra = list(extra)
    stop = stop or threading.Event()

    def run(changed: List[str]) -> None:
        try:
            cycle(changed)
        except MotivusError as exc:
            (on_error or (lambda error: reporter.warning(str(error))))(exc)

    ignore = {*SKIP_DIRS, ".motivus-logs"}
    watch_filter = watchfiles.DefaultFilter(ignore_dirs=tuple(sorted(ignore)))
    # The first cycle runs once the OS watches (the first, empty, yield after a short
    # timeout), and is compared with the inputs as they were before it: a save during the
    # first build is not lost. Later empty yields are only the timer: nothing is read then.
    pending_first = first
    last = None if first else _state_or_none(project_dir, extra, reporter)
    for changes in watchfiles.watch(project_dir, watch_filter=watch_filter, debounce=DEBOUNCE_MS,
                                    stop_event=stop, raise_interrupt=True, yield_on_timeout=True,
                                    rust_timeout=250):
        if pending_first:
            pending_first = False
            last = _state_or_none(project_dir, extra, reporter)
            run([])
            continue
        if not changes:
            continue
        now = _state_or_none(project_dir, extra, reporter)
        if now is None or now == last:
            continue  # not an input (a driver, the docs), or an input that does not parse yet
        last = now
        run(_relative(project_dir, changes))


def _state_or_none(project_dir: Path, extra: List[Path], reporter: Reporter) -> Optional[str]:
    try:
        return input_state(project_dir, extra)
    except MotivusError as exc:
        reporter.warning(f"{exc}\n(watching: fix it and save again)")
        return None
    except OSError:
        return None  # a file vanished between the event and the read: the next event comes


def _relative(project_dir: Path, changes: Iterable[Tuple[Any, str]]) -> List[str]:
    """The changed paths, relative to the project; an editor's temporary files (written and
    gone within the burst) left out when anything else changed."""
    names = {}
    for _kind, path in changes:
        try:
            names[Path(path).relative_to(project_dir).as_posix()] = Path(path).exists()
        except ValueError:
            names[path] = Path(path).exists()
    there = sorted(name for name, exists in names.items() if exists)
    return there or sorted(names)


__all__ = ["DEBOUNCE_MS", "input_state", "watch"]
