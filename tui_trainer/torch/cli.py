"""``tui-trainer torch FILE.py[:make]``: the user's model in the debugger app, or headless.

``open_app`` opens the app (``torch/debug.py``); ``run`` (``--headless``, or
when the output is not a terminal) runs the session to the end, a step limit
or a divergence, printing a line per epoch; a NaN/Inf is reported at the
module and phase that produced it. Exit 0 at the end, 3 on divergence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tui_trainer.torch.session import UserCodeError
from tui_trainer.torch.user import MakeError, call_make, load_make, session_from_make, split_target

EXIT_OK = 0
EXIT_NONFINITE = 3


def _fmt(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.4g}"


def run(
    target: str,
    *,
    steps: int | None,
    epochs: int | None,
    quiet: bool,
    say: Callable[..., None],
) -> int:
    """Raises MakeError for a bad target or ``make()``, UserCodeError when a step raised."""
    path, _ = split_target(target)
    spec = call_make(load_make(target), path)
    session = session_from_make(spec)
    with session:
        if epochs is not None:
            session.set_hyper(epochs=epochs)
        printed = 0

        def report(_: Any) -> None:
            nonlocal printed
            rows = session.history.epochs
            while printed < rows.n and not quiet:
                r = rows.data[printed]
                say(
                    f"epoch {printed + 1}/{session.epochs}: loss {_fmt(r[0])}, "
                    f"val_loss {_fmt(r[1])}, accuracy {_fmt(r[2])}, val_accuracy {_fmt(r[3])}"
                )
                printed += 1

        session.on_step = report
        reason = session.run(max_steps=steps)
        names = ", ".join(session.module_names)
        summary = (
            f"{path.name}: {session.epoch}/{session.epochs} epochs, step {session.step}, "
            f"loss {_fmt(session.history.steps.last('loss'))} (pausing at modules {names})"
        )
        if reason.kind == "diverged":
            say(
                f"{path.name}: training became non-finite: {session.nonfinite.describe()}", err=True
            )
            say(summary)
            return EXIT_NONFINITE
        say(summary)
        return EXIT_OK


def open_app(target: str, *, epochs: int | None) -> int:
    """Open the debugger app on the user's ``make()``; 0 when the user quits."""
    from tui_trainer.torch.debug import run_app

    path, _ = split_target(target)
    spec = call_make(load_make(target), path)
    session = session_from_make(spec)
    if epochs is not None:
        session.set_hyper(epochs=epochs)
    run_app(session, name=path.stem)
    return EXIT_OK


__all__ = ["MakeError", "UserCodeError", "open_app", "run"]
