"""The data and inputs dialog (``D``): Playground's left column in the terminal.

Inputs: which features the network sees (x1, x2 and their crosses x1^2,
x2^2, x1*x2, sin(x1), sin(x2); a CSV's columns and crosses of them), toggled
with space. Data (generated kinds): the kind, the noise, the share of the
points held out for validation and the seed of the draw (ctrl+r: a new
draw). The points the settings give are previewed in the dialog before
anything is applied; every value goes through the scenario's own checks, so
an error reads like ``tui-trainer check``'s.

The dialog only returns what changed (:class:`DataSetup`); the app applies
it: new inputs from the next step like a hyperparameter change, new data as
a new run from epoch 0 (docs/scenarios.md, "Changing data and inputs in the
app").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from tui_trainer.engine.features import PLAYGROUND_FEATURES
from tui_trainer.safe_text import visible
from tui_trainer.ui.screens.dialog import Dialog

MAX_TOGGLES = 12  # more candidate inputs than this: a text field instead of checkboxes
MAX_PREVIEW_SAMPLES = 20_000  # a larger draw is applied without a preview
DATA_FIELDS = ("kind", "noise", "val_fraction", "data_seed")


@dataclass
class DataSetup:
    """What the dialog changed: ``features`` (None: unchanged) and the data
    settings in ``data`` (flat scenario names: kind, noise, val_fraction,
    data_seed; empty: unchanged)."""

    features: tuple[str, ...] | None = None
    data: dict[str, Any] = field(default_factory=dict)


def candidate_features(columns: list[str], current: tuple[str, ...]) -> list[str]:
    """The inputs offered as toggles: Playground's seven for (x1, x2), the
    column, its square and sine for 1-D data, else the columns; the current
    inputs always (in their order first)."""
    if columns == ["x1", "x2"]:
        offered = list(PLAYGROUND_FEATURES)
    elif len(columns) == 1:
        c = columns[0]
        offered = [c, f"{c}^2", f"sin({c})"]
    else:
        offered = list(columns)
    return list(dict.fromkeys([*offered, *current]))


def _generated_kinds() -> list[str]:
    from tui_trainer.engine.data import GENERATORS

    return list(GENERATORS)


class DataSetupScreen(Dialog[DataSetup | None]):
    """Inputs as checkboxes, data settings, a preview; Enter applies, Esc cancels."""

    DEFAULT_CSS = """
    DataSetupScreen { align: center middle; }
    #setup-box {
        width: 96%;
        max-width: 110;
        height: 96%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    #setup-inputs { grid-size: 4; grid-rows: 1; grid-gutter: 0 1; height: auto; }
    #setup-inputs Checkbox { width: 100%; }
    #setup-data { height: 1; margin: 1 0 0 0; }
    #setup-data Label { width: auto; padding: 0 1 0 0; }
    #setup-data Input { width: 8; margin: 0 2 0 0; }
    #setup-data Select { width: 16; margin: 0 2 0 0; }
    #setup-preview { height: 1fr; margin: 1 0 0 0; }
    #setup-error { height: auto; max-height: 3; }
    #setup-box Label { height: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="setup_cancel"),
        Binding("enter", "apply", "apply", priority=True, id="setup_apply"),
        Binding("ctrl+r", "new_draw", "new draw", priority=True, id="setup_new_draw"),
    ]

    def __init__(self, session: Any, scenario: Any) -> None:
        super().__init__()
        self.session = session
        self.scenario = scenario  # None: only the inputs can change
        self.columns = session.data0.columns[2]
        self.current = tuple(session.features)
        self.offered = candidate_features(self.columns, self.current)
        spec = scenario.data if scenario is not None else None
        self.generated = spec is not None and spec.kind in _generated_kinds()
        self.start: dict[str, Any] = {}
        if spec is not None:
            seed = spec.data_seed if spec.data_seed is not None else scenario.seed
            self.start = {
                "kind": spec.kind,
                "noise": spec.noise,
                "val_fraction": spec.val_fraction,
                "data_seed": seed,
            }
        self._preview_key: Any = None

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Vertical(id="setup-box") as box:
            box.border_title = "Data and inputs"
            toggles = len(self.offered) <= MAX_TOGGLES
            how = (
                "space toggles" if toggles else "names or crosses such as a^2, a*b, separated by ,"
            )
            yield Label(f"Inputs ({how}; from the next step, step-back undoes it):")
            if toggles:
                with Grid(id="setup-inputs"):
                    for i, name in enumerate(self.offered):
                        yield Checkbox(
                            visible(name), name in self.current, compact=True, id=f"feat-{i}"
                        )
            else:
                yield Input(", ".join(self.current), compact=True, id="setup-features")
            if self.scenario is not None:
                with Horizontal(id="setup-data"):
                    if self.generated:
                        yield Label("data")
                        kinds = _generated_kinds()
                        yield Select(
                            [(k, k) for k in kinds],
                            value=self.start["kind"],
                            allow_blank=False,
                            compact=True,
                            id="kind",
                        )
                        yield Label("noise")
                        yield Input(f"{self.start['noise']:g}", compact=True, id="noise")
                    yield Label("validation share")
                    yield Input(f"{self.start['val_fraction']:g}", compact=True, id="val_fraction")
                    yield Label("seed")
                    yield Input(str(self.start["data_seed"]), compact=True, id="data_seed")
            yield Static("", id="setup-preview")
            yield Label("", id="setup-error")
            yield Label(
                Text(
                    "Enter applies  Esc cancels  ctrl+r new draw  (new data: epoch 0 again)",
                    style="dim",
                )
            )

    def on_mount(self) -> None:
        self.call_after_refresh(self.refresh_preview)

    # ------------------------------------------------------------ values
    def chosen_features(self) -> tuple[str, ...]:
        """The inputs ticked, in the order offered (a text field: as typed)."""
        for field_ in self.query("#setup-features").results(Input):
            return tuple(t.strip() for t in field_.value.split(",") if t.strip())
        return tuple(
            name
            for i, name in enumerate(self.offered)
            if self.query_one(f"#feat-{i}", Checkbox).value
        )

    def data_values(self) -> tuple[dict[str, Any], list[str]]:
        """The data settings in the form, parsed; (values, errors)."""
        out: dict[str, Any] = {}
        errors: list[str] = []
        if self.scenario is None:
            return out, errors
        for select in self.query("#kind").results(Select):
            out["kind"] = str(select.value)
        for key, conv in (("noise", float), ("val_fraction", float), ("data_seed", int)):
            for inp in self.query(f"#{key}").results(Input):
                raw = inp.value.strip()
                try:
                    out[key] = conv(raw)
                except ValueError:
                    what = "a whole number" if conv is int else "a number"
                    errors.append(f"{key}: {visible(raw)!r} is not {what}")
        return out, errors

    def changes(self) -> tuple[DataSetup, list[str]]:
        """What differs from now, and why it cannot be applied (empty: it can)."""
        values, errors = self.data_values()
        data = {k: v for k, v in values.items() if self.start.get(k) != v}
        features = self.chosen_features()
        if not features:
            errors.append("inputs: tick at least one")
        setup = DataSetup(features=features if features != self.current else None, data=data)
        if not errors and (data or setup.features is not None):
            errors += self._check(setup)
        return setup, errors

    def _check(self, setup: DataSetup) -> list[str]:
        """Problems of the new setup, by the scenario's own checks (or the engine's)."""
        if setup.data and self.scenario is not None:
            try:
                self.candidate(setup)
            except Exception as e:  # noqa: BLE001 - every problem is shown, never raised
                return [visible(str(e))]
            return []
        if setup.features is not None:
            from tui_trainer.engine.data import DataError, select_features

            try:
                select_features(self.session.data0, list(setup.features))
            except DataError as e:
                return [f"inputs: {visible(e.message)}"]
        return []

    def candidate(self, setup: DataSetup) -> Any:
        """The scenario the new data settings make (checked; ScenarioError if not)."""
        assert self.scenario is not None
        features = setup.features if setup.features is not None else self.current
        return scenario_with(self.scenario, setup.data, features, {})[0]

    # ------------------------------------------------------------ preview
    def refresh_preview(self) -> None:
        preview = self.query_one("#setup-preview", Static)
        setup, errors = self.changes()
        self.query_one("#setup-error", Label).update(
            Text("\n".join(errors), style="red") if errors else ""
        )
        if errors or self.scenario is None:
            if self.scenario is None:
                preview.update(Text("(no scenario: only the inputs can change here)", "dim"))
            return
        key = tuple(sorted(setup.data.items()))
        if key == self._preview_key:
            return
        self._preview_key = key
        try:
            sc = self.candidate(setup) if setup.data else self.scenario
            if sc.data.kind in _generated_kinds() and sc.data.n_samples > MAX_PREVIEW_SAMPLES:
                preview.update(Text(f"{sc.data.n_samples} points: no preview", "dim"))
                return
            data = sc.load_data()
        except Exception as e:  # noqa: BLE001 - shown, never raised
            self.query_one("#setup-error", Label).update(Text(visible(str(e)), style="red"))
            return
        w = max(10, preview.size.width)
        h = max(3, preview.size.height)
        preview.update(preview_text(data, w, h, bool(setup.data)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.refresh_preview()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.refresh_preview()

    # ------------------------------------------------------------ actions
    def action_new_draw(self) -> None:
        for inp in self.query("#data_seed").results(Input):
            try:
                inp.value = str(int(inp.value.strip()) + 1)
            except ValueError:
                inp.value = str(self.start.get("data_seed", 0))

    def action_apply(self) -> None:
        setup, errors = self.changes()
        if errors:
            return  # shown under the form already
        self.dismiss(setup if (setup.data or setup.features is not None) else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def scenario_with(
    scenario: Any, data: dict[str, Any], features: tuple[str, ...], settings: dict[str, Any]
) -> tuple[Any, str]:
    """``scenario`` with the data settings ``data``, the inputs ``features`` and
    other ``settings`` (to_toml overrides), checked: (Scenario, its TOML).

    A kind with other columns (1-D sine after 2-D xor) starts from its own
    columns as inputs, and a kind of the other task (regression after
    classes) with the task's default loss. Raises ScenarioError with the
    scenario's own messages.
    """
    from tui_trainer.scenario import parse_scenario
    from tui_trainer.scenario.kinds import _generated_columns, _generated_info

    over = {**settings, **data}
    if set(data) - {"added_points", "removed_points"}:
        # A new draw, noise, share or kind: points added or removed by hand
        # belonged to the old training set (removed_points are its indices).
        over.setdefault("added_points", None)
        over.setdefault("removed_points", None)
    kind = over.get("kind", scenario.data.kind)
    tasks = _generated_info()
    if kind in tasks and scenario.task is not None and tasks[kind][0] != scenario.task:
        over["loss"] = None  # a regression after classes (or back): the task's own loss
    cols = _generated_columns(kind)
    old_cols = _generated_columns(scenario.data.kind)
    if cols is not None and cols != old_cols:
        features = tuple(cols)
    over["features"] = list(features)
    text = scenario.to_toml(**over)
    return parse_scenario(text, scenario.source), text


def preview_text(data: Any, width: int, height: int, new: bool) -> Text:
    """The points of ``data`` over their own columns (x1, x2), training ``●``
    and validation ``○``, on a neutral background: nothing is trained yet."""
    from tui_trainer.ui.render.decision import _class_colors, decision_map, map_grid_size

    x_train, x_val, names = data.columns
    n = len(x_train) + len(x_val)
    head = (
        f"{'Preview of the new data' if new else 'The data now'}: {n} points "
        f"({len(x_train)} training, {len(x_val)} validation)"
    )
    if data.task != "classification" or x_train.shape[1] != 2:
        return Text(head + "; the picture is for 2-D classes only.", style="dim")
    both = np.vstack([x_train, x_val])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = (hi - lo) * 0.05 + 1e-9
    ext = (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )
    gw, gh = map_grid_size(width, height - 2, legend=False)
    k = data.n_classes
    probs = np.full((gh, gw), 0.5) if k == 2 else np.full((gh, gw, k), 1.0 / k)
    out = Text(head + "\n", style="bold")
    out.append_text(
        decision_map(
            probs,
            x_train,
            data.y_train,
            ext,
            width,
            height - 2,
            k,
            class_names=data.class_names or None,
            legend=False,  # its "shade = confidence" means nothing before training
            val_points=x_val,
            val_labels=data.y_val,
        )
    )
    names = data.class_names or [str(i) for i in range(k)]
    out.append("\n● training  ○ validation  ")
    for name, color in zip(names, _class_colors(k), strict=False):
        out.append(f"● {visible(name)}  ", style=color)
    return out
