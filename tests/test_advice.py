"""Advice for a non-finite run names the cause: the learning rate only once an update ran."""

from __future__ import annotations

from tui_trainer.engine.advice import divergence_advice
from tui_trainer.engine.config import LayerSpec, TrainConfig
from tui_trainer.engine.stepper import NonFinite, Phase

CFG = TrainConfig(layers=(LayerSpec(4), LayerSpec(2, "linear")), init="normal", init_std=50.0)


def test_overflow_in_the_first_forward_pass_blames_the_initial_weights() -> None:
    advice = divergence_advice(NonFinite(0, Phase.FORWARD, 3, "pre-activation z"), CFG)
    assert "learning rate is not the cause" in advice
    assert "smaller init_std (now 50)" in advice


def test_uniform_init_names_init_scale() -> None:
    cfg = CFG.with_changes(init="uniform", init_scale=80.0)
    advice = divergence_advice(NonFinite(0, Phase.BACKWARD, 0, "gradient dW"), cfg)
    assert "smaller init_scale (now 80)" in advice


def test_a_blow_up_after_updates_blames_the_learning_rate() -> None:
    for nf in (
        NonFinite(0, Phase.UPDATE, 1, "weights after the update"),
        NonFinite(7, Phase.FORWARD, 0, "pre-activation z"),
    ):
        assert divergence_advice(nf, CFG) == "Try a smaller learning rate."


# ---------------------------------------------------------------- one voice
# Every screen's advice comes from the diagnosis findings: these cases used to
# get advice of their own that contradicted the debug panel.


def test_run_divergence_message_takes_the_findings_advice(tmp_path) -> None:
    """Huge unstandardized inputs make a run blow up after a few updates: `run`
    said "Try a smaller learning rate." (chosen by where the NaN appeared) while
    the diagnosis says standardize the inputs; now `run` says the diagnosis's."""
    import json

    import numpy as np
    from test_cli import cli

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 2))
    t = x[:, 0] - 0.5 * x[:, 1]
    x = x * 3000 + 20000
    rows = "".join(f"{a:.1f},{b:.1f},{v:.4f}\n" for (a, b), v in zip(x, t, strict=True))
    (tmp_path / "reg.csv").write_text("a,b,t\n" + rows)
    (tmp_path / "reg.toml").write_text(
        'seed = 0\n[data]\nkind = "csv"\npath = "reg.csv"\ntarget = "t"\nstandardize = false\n'
        '[model]\nhidden = [8]\nactivation = "leaky_relu"\ninit = "he"\n'
        '[training]\nloss = "mse"\noptimizer = "sgd"\nlr = 0.01\nepochs = 5\n'
    )
    run = cli("run", "reg.toml", "-q", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    line = next(ln for ln in run.stderr.splitlines() if "non-finite" in ln)
    diag = cli("diagnose", "reg.toml", "--json", cwd=tmp_path)
    first = [json.loads(ln) for ln in diag.stdout.splitlines() if ln.strip()]
    first = [f for f in first if f["code"] != "diverged"][0]
    assert first["code"] == "unstandardized_inputs"
    assert "standardize = true" in line, line
    assert "Try a smaller learning rate" not in line, line


def test_first_bad_value_text_takes_the_findings_advice() -> None:
    """The exploding_gradients scenario's first bad value: the explain panel said
    "above about 1e-2 the learning rate is usually too large" while the debug panel
    found exploding gradients (fix: the init); now it gives the findings' advice."""
    from tui_trainer.cli import load
    from tui_trainer.engine.advice import findings_advice
    from tui_trainer.engine.diagnostics import diagnose
    from tui_trainer.engine.reverse import first_bad_value
    from tui_trainer.explain import bad_value_text

    _, s = load("exploding_gradients")
    s.run()
    found = first_bad_value(s)
    assert found.found is not None
    text = bad_value_text(s, found.found, found.window_step, found.complete)
    findings = diagnose(s)
    assert "lr_too_large" not in {f.code for f in findings}
    assert findings_advice(findings) in text
    assert "too large" not in text


def _overshooting_slice():
    import numpy as np

    from tui_trainer.engine.landscape import Slice

    ts = np.linspace(0, 0.2, 41)
    values = (ts - 0.02) ** 2  # lowest at t = 0.02; a step of 0.1 lands higher than t = 0
    return Slice(ts, values, 0.1, float((0.1 - 0.02) ** 2), 1.0, -0.04, 64, "session")


def test_landscape_verdict_leaves_the_learning_rate_to_the_diagnosis() -> None:
    """The line-search sentence called every overshooting step a too-large
    learning rate, whatever the diagnosis said over the run."""
    from tui_trainer.engine.diagnostics import Finding
    from tui_trainer.ui.screens.landscape import verdict

    sl = _overshooting_slice()
    quiet = verdict(sl, [])
    assert "overshoots" in quiet and "loss goes UP" in quiet
    assert "learning rate is too large" not in quiet
    lr = Finding(
        code="lr_too_large",
        title="Learning rate too large",
        severity="warning",
        step=0,
        epoch=0,
        evidence="",
        advice="",
        fixes=({"training.lr": 0.01},),
    )
    loud = verdict(sl, [lr])
    assert "learning rate is too large" in loud and "lr_too_large" in loud
