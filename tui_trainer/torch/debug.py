"""``debug(model, loss_fn, optimizer, train=...)``: the debugger app on the user's own model.

::

    user code / tui-trainer torch FILE.py:make
        │
        ▼
    debug() ── TorchSession(model, ...) ──▶ TrainerApp(session).run()   (blocks until q)
        │                                     │ reads LayerViews, history, position
        │                                     ▼
        └── finally: session.close()      tui_trainer/torch/views.py (tensors -> NumPy)
            (a paused step is aborted, its hooks removed; global torch settings restored)

It returns the session when the user quits; the model holds the weights where
they left it (a step quit half-way never applied its update: the weights are
those after the last completed step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from tui_trainer.torch.session import TorchSession


def make_app(
    session: TorchSession,
    *,
    name: str = "",
    breakpoints: Iterable[str] = (),
    watches: Iterable[str] = (),
) -> Any:
    """The Textual app on ``session`` (not yet running).

    Raises ConditionError for a bad condition, ValueError for an unknown module name.
    """
    from tui_trainer.engine.breakpoints import BreakpointSet
    from tui_trainer.engine.conditions import parse
    from tui_trainer.engine.layer_view import resolve_module_names
    from tui_trainer.torch.checkpoint import save_torch_checkpoint
    from tui_trainer.ui.app import TrainerApp

    names = session.module_names
    bps = BreakpointSet()
    for text in breakpoints:  # grad_norm["features.0"] reads that module
        bps.add(resolve_module_names(text, names))
    watch_list = [resolve_module_names(text, names) for text in watches]
    for text in watch_list:  # checked here: the app would drop a bad one silently
        parse(text)
    return TrainerApp(
        session,
        name=name or type(session.model).__name__,
        saver=save_torch_checkpoint,  # ctrl+s: load with load_torch_checkpoint
        breakpoints=bps,
        watches=watch_list,
        description=(
            f"Your PyTorch model: {session.n_layers} pause modules "
            f"({', '.join(session.module_names[:8])}{', ...' if session.n_layers > 8 else ''})."
        ),
    )


def run_app(session: TorchSession, **kw: Any) -> TorchSession:
    """Open the app on ``session`` until the user quits; the session is closed after."""
    try:
        app = make_app(session, **kw)
        app.run()
    finally:
        session.close()
    return session


def debug(
    model: nn.Module,
    loss_fn: Any,
    optimizer: Any,
    train: Any,
    val: Any = None,
    *,
    name: str = "",
    breakpoints: Iterable[str] = (),
    watches: Iterable[str] = (),
    **session_kw: Any,
) -> TorchSession:
    """Step through training of ``model`` in the terminal; returns when the user quits.

    ``train``/``val``: a pair ``(X, y)`` of tensors or arrays, or a
    ``DataLoader``. ``session_kw`` goes to :class:`TorchSession`
    (``batch_size``, ``epochs``, ``seed``, ``modules``, ``depth``, ...).
    ``breakpoints`` are conditions such as ``"epoch >= 1"`` or ``"loss < 0.5"``.
    The returned session keeps the history (``session.history``) for a notebook.
    """
    session = TorchSession(model, loss_fn, optimizer, train, val, **session_kw)
    return run_app(session, name=name, breakpoints=breakpoints, watches=watches)
