"""The debugger's tools, found from the session's backend: landscape, sanity, forks.

The app's tool screens (loss landscape, sanity checks, what-if, compare) must
work on either backend without importing torch (an import-linter contract).
They ask ``tools_for(session)`` for a ``BackendTools`` and call only that::

        ui/screens/{landscape,sanity,whatif,compare}.py
                          |  tools_for(session)
                  BackendTools (this Protocol)
                 /                          \\
     NUMPY_TOOLS (below: engine/landscape,   tui_trainer/torch/tools.py
     engine/sanity, fork_session)             (registered when tui_trainer.torch is
                                               imported, which any TorchSession implies)

The registry is keyed by the session's class (its MRO is searched), so a
backend registers once when its package is imported and nothing here knows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tui_trainer.engine.session_api import TrainingSession

Progress = Callable[[float], None]
ShouldStop = Callable[[], bool]


class BackendTools(Protocol):
    """What the tool screens use of a backend (every method may raise; the
    screens show the error)."""

    #: the hyperparameters a what-if fork may change (subset of the session's)
    changeable: tuple[str, ...]

    def snapshot(self, s: Any) -> Any:
        """An independent copy of ``s`` to read and perturb (caller holds the app's lock)."""

    def release(self, snap: Any) -> None:
        """Free what ``snapshot`` or ``fork`` made (a torch fork's worker thread)."""

    def plottable(self, s: Any) -> str:
        """Why no landscape can be drawn (empty: it can)."""

    def surface(
        self,
        s: Any,
        steps: int,
        span: float,
        seed: int,
        *,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        directions: str = "random",
    ) -> Any:
        """``engine.landscape.Landscape`` around ``s``'s parameters."""

    def gradient_slice(self, s: Any, n: int) -> Any:
        """``engine.landscape.Slice`` along the gradient at ``s``'s parameters."""

    def sanity(self, s: Any, progress: Progress | None = None) -> list[Any]:
        """The sanity checklist (``engine.sanity.CheckResult`` each)."""

    def fork(self, s: Any, **changes: Any) -> Any:
        """An independent copy at ``s``'s position, with hyperparameter changes from the next step."""

    def keep(self, original: Any, chosen: Any) -> Any:
        """The session the app goes on with when the user keeps fork ``chosen``."""

    def compare_runs(self, s: Any, param: str, values: list[Any]) -> list[Any]:
        """``engine.compare.Run`` per value: runs from the start with ``param`` changed."""

    def diagnose(self, s: Any) -> list[Any]:
        """The diagnosis's findings (``engine.diagnostics.Finding`` each)."""

    def diagnosis_scope(self) -> str:
        """What the diagnosis checks on this backend, when not everything (else '')."""


_REGISTRY: dict[type, Callable[[], BackendTools]] = {}


def register(session_class: type, factory: Callable[[], BackendTools]) -> None:
    """Make ``factory()`` the tools of sessions of ``session_class`` (and subclasses)."""
    _REGISTRY[session_class] = factory


def tools_for(session: TrainingSession | Any) -> BackendTools:
    """The tools of ``session``'s backend; LookupError when none registered."""
    for cls in type(session).__mro__:
        factory = _REGISTRY.get(cls)
        if factory is not None:
            return factory()
    raise LookupError(f"no debugger tools for a {type(session).__name__}")


class NumpyTools:
    """The NumPy engine's tools (the functions the screens called directly before)."""

    def __init__(self) -> None:
        from tui_trainer.engine.session import HYPER_FIELDS, SCHEDULE_FIELDS

        self.changeable = tuple(
            f for f in HYPER_FIELDS if f != "epochs" and f not in SCHEDULE_FIELDS
        )

    def snapshot(self, s: Any) -> Any:
        from tui_trainer.engine.session import fork_session

        return fork_session(s)

    def release(self, snap: Any) -> None:
        """Nothing to free: a NumPy fork is plain arrays."""

    def plottable(self, s: Any) -> str:
        import numpy as np

        from tui_trainer.engine.landscape import flatten, trajectory

        thetas, _ = trajectory(s)
        with np.errstate(all="ignore"):
            for theta in thetas:
                v = flatten(theta)
                if not np.isfinite(v).all() or not np.isfinite(float(np.dot(v, v))):
                    return NOT_PLOTTABLE
        return ""

    def surface(self, s: Any, steps: int, span: float, seed: int, **kw: Any) -> Any:
        from tui_trainer.engine.landscape import surface

        return surface(s, steps, span, seed, **kw)

    def gradient_slice(self, s: Any, n: int) -> Any:
        from tui_trainer.engine.landscape import gradient_slice

        return gradient_slice(s, n)

    def sanity(self, s: Any, progress: Progress | None = None) -> list[Any]:
        from tui_trainer.engine.sanity import run_all

        return run_all(s, progress)

    def fork(self, s: Any, **changes: Any) -> Any:
        from tui_trainer.engine.session import fork_session

        return fork_session(s, **changes)

    def keep(self, original: Any, chosen: Any) -> Any:
        return chosen

    def compare_runs(self, s: Any, param: str, values: list[Any]) -> list[Any]:
        from tui_trainer.engine.compare import make_runs

        return make_runs(s.cfg, s.data, param, values)

    def diagnose(self, s: Any) -> list[Any]:
        from tui_trainer.engine.diagnostics import diagnose

        return diagnose(s)

    def diagnosis_scope(self) -> str:
        return ""


NOT_PLOTTABLE = (
    "The parameters (or the path's) are non-finite or too large to plot: "
    "the run diverged. Step back (N / F) to before the divergence and reopen."
)


def _register_numpy() -> None:
    from tui_trainer.engine.session import Session

    register(Session, NumpyTools)


_register_numpy()
