"""The debugger's tools on a TorchSession (``engine.backend_tools.BackendTools``).

Registered for ``TorchSession`` when ``tui_trainer.torch`` is imported, so
the app's screens reach them through ``tools_for(session)`` without
importing torch themselves.
"""

from __future__ import annotations

import math
from typing import Any

from tui_trainer.engine.backend_tools import Progress, register
from tui_trainer.torch.data import LoaderData
from tui_trainer.torch.session import TorchSession

# what a what-if fork may change, when the optimizer has that setting
_FIELDS = ("lr", "momentum", "beta1", "beta2", "eps", "l2", "batch_size")


class TorchTools:
    """Landscape, sanity checks and forks of a TorchSession."""

    changeable = _FIELDS

    def changeable_for(self, s: TorchSession) -> tuple[str, ...]:
        """The fields this session's optimizer and data have (lr always)."""
        hp = s.hyperparameters()
        out = []
        for k in _FIELDS:
            if k == "batch_size":
                if not isinstance(s.data, LoaderData):
                    out.append(k)
            elif isinstance(hp.get(k), float) and math.isfinite(hp[k]):
                out.append(k)
        return tuple(out)

    def snapshot(self, s: TorchSession) -> TorchSession:
        from tui_trainer.torch.fork import fork_torch_session

        return fork_torch_session(s, at_position=False)

    def release(self, snap: Any) -> None:
        if isinstance(snap, TorchSession):
            snap.close()

    def plottable(self, s: TorchSession) -> str:
        from tui_trainer.torch.landscape import plottable

        return plottable(s)

    def surface(self, s: TorchSession, steps: int, span: float, seed: int, **kw: Any) -> Any:
        from tui_trainer.torch.landscape import surface

        return surface(s, steps, span, seed, **kw)

    def gradient_slice(self, s: TorchSession, n: int) -> Any:
        from tui_trainer.torch.landscape import gradient_slice

        return gradient_slice(s, n)

    def sanity(self, s: TorchSession, progress: Progress | None = None) -> list[Any]:
        from tui_trainer.torch.sanity import run_all

        return run_all(s, progress)

    def fork(self, s: TorchSession, **changes: Any) -> TorchSession:
        from tui_trainer.torch.fork import fork_torch_session

        return fork_torch_session(s, **changes)

    def keep(self, original: TorchSession, chosen: TorchSession) -> TorchSession:
        from tui_trainer.torch.fork import adopt

        try:
            return adopt(original, chosen)
        finally:
            if chosen is not original:
                chosen.close()

    def compare_runs(self, s: TorchSession, param: str, values: list[Any]) -> list[Any]:
        from tui_trainer.torch.fork import compare_runs

        return compare_runs(s, param, values)

    def diagnose(self, s: TorchSession) -> list[Any]:
        from tui_trainer.torch.diagnose import diagnose

        return diagnose(s)

    def diagnosis_scope(self) -> str:
        from tui_trainer.torch.diagnose import scope

        return scope()


register(TorchSession, TorchTools)
