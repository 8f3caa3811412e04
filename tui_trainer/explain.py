"""Plain-words explanations of the phase that just ran, with real numbers.

Written for a learner: the terms are the ones an introduction to training
uses (forward pass, loss function, backpropagation, gradient descent,
learning rate), and every formula is shown with the values of one sample
plugged in. Pure functions of the session state, so the same text is
available in a notebook and testable without a terminal.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tui_trainer.engine.advice import findings_advice
from tui_trainer.engine.diagnostics import (
    SATURATED_FRACTION,
    Finding,
    diagnose,
    involvements,
    negative_fraction,
    saturated_fraction,
)
from tui_trainer.engine.diagnostics.rules import UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW
from tui_trainer.engine.layer_view import is_dense
from tui_trainer.engine.session import Session
from tui_trainer.engine.stepper import Phase
from tui_trainer.explain_module import explain_module

if TYPE_CHECKING:  # only a type here: the search module loads when a search runs
    from tui_trainer.engine.reverse import Pause


def f(x: float, digits: int = 4) -> str:
    """Short number formatting for explanations."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.{max(1, digits - 2)}e}"
    return f"{x:.{digits}g}"


def explain(
    session: Session,
    layer: int = 0,
    unit: tuple[int, int] | None = None,
    findings: list[Finding] | None = None,
) -> str:
    """What the last phase did; ``layer``/``unit`` pick the weight to spell out.

    Without a ``unit`` the weight with the largest gradient (backprop) or the
    largest step (update) in the selected layer is used. Advice comes only from
    ``findings`` (``diagnose(session)`` when not given), the list the debug
    panel and the network panel's flags show, so the panels cannot disagree.
    """
    s = session
    if not is_dense(s):  # modules of another backend (PyTorch)
        return explain_module(s, layer)
    if findings is None:
        findings = diagnose(s)
    if s.nonfinite is not None:
        return explain_divergence(s, findings)
    ev = s.last_event
    if ev is None:
        return (
            "Ready. Nothing has run yet. Press n to run the forward pass of the first "
            "batch, s to go one layer at a time, c to train until a breakpoint or the end, "
            "? for help."
        )
    if ev.phase is Phase.FORWARD:
        return explain_forward(s, ev.layer or 0, findings)
    if ev.phase is Phase.LOSS:
        return explain_loss(s)
    if ev.phase is Phase.BACKWARD:
        return explain_backward(s, ev.layer or 0, unit if layer == ev.layer else None)
    return explain_update(s, layer, unit, findings)


def explain_forward(s: Session, i: int, findings: list[Finding] | None = None) -> str:
    ly = s.net.layers[i]
    if ly.x is None or ly.z is None or ly.a is None:
        return f"Forward pass, layer {i + 1}: nothing cached."
    x0, z0, a0 = ly.x[0], ly.z[0], ly.a[0]
    j = int(np.argmax(np.abs(z0)))
    terms = " + ".join(f"{f(x0[k], 3)}*{f(ly.W[k, j], 3)}" for k in range(min(3, ly.n_in)))
    if ly.n_in > 3:
        terms += f" + ... ({ly.n_in} inputs)"
    src = "the input x" if i == 0 else f"the activations of layer {i}"
    return (
        f"FORWARD PASS, layer {i + 1} ({ly.n_in} -> {ly.n_out}, {ly.activation}): each unit "
        f"weighs {src}: z = x W + b, then {ly.act.formula()}.\n"
        f"Sample 0, unit {j}: z = {terms} + {f(ly.b[j], 3)} = {f(z0[j])}; "
        f"a = {f(a0[j])}.\n"
        f"Batch of {ly.z.shape[0]}: z mean {f(float(ly.z.mean()))}, "
        f"std {f(float(ly.z.std()))}; a mean {f(float(ly.a.mean()))}."
        + dropout_note(s, i)
        + _saturation_note(s, i)
        + diagnosis_note(findings or [], i, ly.activation)
    )


def dropout_note(s: Session, i: int) -> str:
    """What dropout did in this step to layer ``i``'s outputs or, for a layer
    without dropout (the output layer), to its inputs ("" without dropout)."""
    ly = s.net.layers[i]
    m = ly.mask
    p = s.cfg.layers[i].dropout if i < len(s.cfg.layers) else 0.0
    if m is not None and p and ly.a is not None and m.shape == ly.a.shape:
        dropped0 = int(np.count_nonzero(m[0] == 0))
        share = float(np.count_nonzero(m == 0)) / m.size
        return (
            f"\nDropout {p:g}: {dropped0} of {ly.n_out} units dropped for sample 0 "
            f"({share:.0%} of the batch), the rest scaled by 1/(1-{p:g}) = "
            f"{f(1.0 / (1.0 - p), 3)}; never in validation."
        )
    if i > 0:
        below = s.net.layers[i - 1]
        m = below.mask
        if m is not None and below.a is not None and m.shape == below.a.shape:
            return (
                f"\nIts inputs are layer {i}'s outputs after dropout: "
                f"{int(np.count_nonzero(m[0] == 0))} of {below.n_out} are 0 for sample 0."
            )
    return ""


def _saturation_note(s: Session, i: int) -> str:
    """Facts about the flat parts of layer ``i``'s activation in this batch (no advice:
    that comes from the findings), measured as the diagnosis measures them."""
    ly = s.net.layers[i]
    neg = negative_fraction(ly)
    if neg:
        if ly.activation == "relu":
            return f" {neg:.0%} of units have z <= 0 for every sample: output 0, no gradient."
        slope = getattr(ly.act, "slope", 0.01)
        return (
            f" {neg:.0%} of units have z <= 0 for every sample: leaky_relu passes only "
            f"{slope:g} of the gradient there."
        )
    sat = saturated_fraction(ly)
    if sat is not None and sat >= SATURATED_FRACTION / 4:
        return (
            f" {sat:.0%} of activations are saturated (within 0.03 of the flat ends of "
            f"{ly.activation}, where its slope is under 6% of its peak)."
        )
    return ""


# What a finding says about one quantity of one layer, in the explain panel.
_QUANTITY = {
    "dead": "its units are below 0 for every example",
    "saturated": "its {act} units are saturated",
    "gradient": "its gradient is {gradient}",
    "update": "its update ratio is {update}",
}


def diagnosis_note(findings: list[Finding], layer: int, act: str) -> str:
    """The findings about ``layer`` (or, if none, the titles of all), as one sentence."""
    here = involvements(findings, layer)
    if here:
        by_finding: dict[Finding, list[str]] = {}
        for q, fd in here:
            by_finding.setdefault(fd, []).append(
                _QUANTITY[q].format(
                    act=act,
                    gradient="exploding" if fd.code == "exploding_gradients" else "vanishing",
                    update="too small" if fd.code == "lr_too_small" else "too large",
                )
            )
        parts = []
        for fd, qs in by_finding.items():
            text = f"{fd.title}: " + " and ".join(qs)
            if fd.code == "lr_too_large" and "update" not in {q for q, g in here if g is fd}:
                text += ", left by the big steps (a symptom: a tiny step here does not mean a small learning rate)"
            parts.append(text)
        return f"\nDiagnosis, layer {layer + 1}: " + "; ".join(parts) + " (details: 4)."
    if findings:
        titles = list(dict.fromkeys(fd.title for fd in findings))
        return "\nDiagnosis: " + "; ".join(titles[:3]) + " (details: 4)."
    return ""


def explain_loss(s: Session) -> str:
    r = s.rec
    if r.per_sample is None or r.out is None:
        return "Loss: nothing computed."
    worst = int(np.argmax(r.per_sample))
    name = s.loss.name
    pred = s.loss.predict(r.out[worst : worst + 1])[0]
    if s.classification and r.labels is not None:
        target = int(r.labels[worst])
        if name == "binary_cross_entropy":
            p = float(pred[0])
            why = (
                f"it is class {target}, but the model gives P(class 1) = {f(p, 3)}; "
                f"its loss is -log({f(p if target == 1 else 1 - p, 3)})"
            )
        elif name == "cross_entropy":
            p = float(pred[target])
            why = (
                f"it is class {target}, but the model gives that class only "
                f"P = {f(p, 3)} (softmax); its loss is -log({f(p, 3)}) = {f(-math.log(max(p, 1e-300)))}"
            )
        else:
            why = f"it is class {target}, the outputs were {np.array2string(r.out[worst], precision=3)}"
    else:
        y = np.asarray(r.y)[worst]
        why = f"the target is {np.array2string(y, precision=3)} and the prediction {np.array2string(r.out[worst], precision=3)}"
    base = ""
    if name == "cross_entropy" and s.step == 0:
        c = s.cfg.layers[-1].units
        base = (
            f"\nAt initialisation a cross-entropy loss near ln({c}) = {f(math.log(c))} is expected."
        )
    obj = ""
    pen = [f"{n} ({f(v)})" for n, v in (("L2", s.l2), ("L1", s.l1)) if v]
    if pen:
        obj = f" With {' and '.join(pen)}, the objective is {f(r.objective)}."
    return (
        f"LOSS FUNCTION ({name}): {s.loss.formula}. "
        f"Mean over the batch of {len(r.per_sample)}: {f(r.loss)}.{obj}\n"
        f"Sample {worst} of the batch contributes most ({f(float(r.per_sample[worst]))}): {why}."
        f"{base}\nNext, backpropagation sends dL/d(output) back through the layers."
    )


def explain_backward(s: Session, i: int, unit: tuple[int, int] | None) -> str:
    ly = s.net.layers[i]
    if ly.dz is None or ly.x is None:
        return f"Backpropagation, layer {i + 1}: nothing cached."
    big_r, big_c = np.unravel_index(int(np.argmax(np.abs(ly.dW))), ly.dW.shape)
    r, c = big_r, big_c
    if unit is not None and unit[0] < ly.n_in and unit[1] < ly.n_out:
        r, c = unit
    delta = ly.dz[:, c]
    ain = ly.x[:, r]
    contrib = float(delta @ ain)
    l2_part = s.l2 * float(ly.W[r, c])
    chain = (
        f"dL/dW[{r},{c}] = sum over the batch of delta_{c} * a_{r}"
        f" = {f(delta[0], 3)} * {f(ain[0], 3)}"
        + (f" + ... ({len(delta)} samples)" if len(delta) > 1 else "")
        + f" = {f(contrib)}"
    )
    if s.l2:
        chain += f", plus L2 term {f(s.l2)} * W = {f(l2_part)}"
    if s.l1:
        chain += f", plus L1 term {f(s.l1)} * sign(W) = {f(s.l1 * float(np.sign(ly.W[r, c])))}"
    gnorm = float(np.linalg.norm(ly.dW))
    return (
        f"BACKPROPAGATION, layer {i + 1} (chain rule): delta = dL/dz = dL/da * act'(z); "
        f"dW = x^T delta; db = sum(delta); dL/dx = delta W^T goes down to "
        f"{f'layer {i}' if i else 'the input'}.\n"
        f"Who is responsible: the largest gradient is on W[{big_r},{big_c}] "
        f"(dL/dw = {f(float(ly.dW[big_r, big_c]))}); layer gradient norm {f(gnorm)}.\n"
        f"{chain}."
    )


def explain_update(
    s: Session, layer: int, unit: tuple[int, int] | None, findings: list[Finding] | None = None
) -> str:
    layer = min(layer, len(s.net.layers) - 1)
    ly = s.net.layers[layer]
    if not ly.delta_valid:
        return "Gradient descent update: nothing applied yet."
    if unit is not None and unit[0] < ly.n_in and unit[1] < ly.n_out:
        r, c = unit
    else:
        r, c = np.unravel_index(int(np.argmax(np.abs(ly.delta_W))), ly.delta_W.shape)
    new = float(ly.W[r, c])
    step = float(ly.delta_W[r, c])
    old = new - step
    g = float(ly.dW[r, c])
    lr = s.rec.lr
    sched = ""
    if s.schedule.active:
        sched = f" ({s.schedule.name} schedule of base lr {f(s.hyper.lr)}, epoch {s.rec.epoch + 1})"
    ratio = s.history.steps.last(f"update_ratio[{layer}]")
    hint = ""
    if math.isfinite(ratio):
        # The diagnosis's bounds (rules.UPDATE_RATIO_HIGH / _LOW), not a pair of its own.
        if ratio > UPDATE_RATIO_HIGH:
            hint = " That is large (rule of thumb: about 1e-3)."
        elif ratio < UPDATE_RATIO_LOW:
            hint = " That is tiny (rule of thumb: about 1e-3)."
    hint += diagnosis_note(findings if findings is not None else diagnose(s), layer, ly.activation)
    opt = s.optimizer_name
    rule = s.opt.formula
    extra = "" if opt == "sgd" else f" ({opt} uses its running averages, so step != -lr*g)"
    return (
        f"GRADIENT DESCENT UPDATE ({opt}): {rule}, learning rate lr = {f(lr)}{sched}{extra}.\n"
        f"Layer {layer + 1}, W[{r},{c}]: old {f(old)}  gradient {f(g)}  "
        f"step {f(step)}  new {f(new)}.\n"
        f"Update ratio |delta W|/|W| (the step's size relative to the weights) for this "
        f"layer: {f(ratio)}.{hint}"
    )


def explain_divergence(s: Session, findings: list[Finding] | None = None) -> str:
    nf = s.nonfinite
    assert nf is not None
    where = nf.phase.label + ("" if nf.layer is None else f" layer {nf.layer + 1}")
    losses = s.history.step_series("loss")
    trend = ""
    if len(losses) >= 3:
        last = ", ".join(f(x, 3) for x in losses[-4:])
        trend = f" The last losses were {last}."
    return (
        f"DIVERGED: a NaN or Inf appeared in the {nf.what} during {where} of step {nf.step}. "
        f"Training stopped before any update was made from it.{trend}\n"
        + findings_advice(findings if findings is not None else diagnose(s))
        + " Step back (N / F), change a setting (h) and continue, or restart (R)."
    )


def _lr(s: Session) -> float:
    """The learning rate: the NumPy engine's hyperparameters or a torch optimizer's."""
    return float(s.hyper.lr if hasattr(s, "hyper") else s.current_lr)


def bad_value_text(
    s: Session,
    pause: Pause,
    window_step: int = 0,
    complete: bool = True,
    findings: list[Finding] | None = None,
) -> str:
    """The explain panel at a first bad value (``engine/reverse.first_bad_value``):
    which value, where, and why it grew, from the numbers at that pause and the
    metric history (the weights' and gradients' norms over the preceding steps).
    What to change is the diagnosis's (``findings``, or ``diagnose(s)``), not a
    threshold of its own, so this panel and the debug panel say the same."""
    i = pause.layer
    head = f"FIRST BAD VALUE at {pause.where()}: {pause.explanation}."
    if not complete:
        head += (
            f" (The first within the step-back history, from step {window_step}: "
            "it may have started earlier.)"
        )
    h = s.history
    lines = [head]
    if i is not None and 0 <= i < s.n_layers and is_dense(s):  # (a torch module: no x, z)
        ly = s.net.layers[i]
        wn = float(np.linalg.norm(ly.W))
        norms = h.step_series("weight_norm", i)
        first = norms[0] if len(norms) else math.nan
        grew = f"‖W{i + 1}‖ = {f(wn)} (it was {f(first)} after the first recorded step)"
        if pause.phase == "FORWARD":
            x = ly.x if ly.x is not None else np.zeros(1)
            lines.append(
                f"Why: z = x·W + b, so |z| grows with the weights and with the layer's input. "
                f"{grew}; max |input| = {f(float(np.max(np.abs(x))) if x.size else 0.0)}"
                + (
                    f" (layer {i}'s output: each layer whose weights amplify their input "
                    "multiplies it again)."
                    if i > 0
                    else "."
                )
            )
        else:
            dz = ly.dz if ly.dz is not None else np.zeros(1)
            grads = h.step_series("grad_norm", i)
            before = (
                f"; ‖dW{i + 1}‖ was {f(grads[0])} at the first recorded step" if len(grads) else ""
            )
            lines.append(
                f"Why: dW = xᵀ·δ, the layer's input times the error signal flowing back "
                f"(max |δ| = {f(float(np.max(np.abs(dz))) if dz.size else 0.0)}){before}. "
                f"Large weights downstream multiply δ on the way back. {grew}."
            )
    ratios = [float(h.steps.last(f"update_ratio[{k}]")) for k in range(s.n_layers) if h.steps.n > 0]
    finite = [r for r in ratios if math.isfinite(r)]
    if finite:
        lines.append(
            f"The last update changed the weights by up to {f(max(finite))} of their size "
            f"(update ratio, learning rate {f(_lr(s))}; healthy is about 1e-3)."
        )
    if is_dense(s):
        advice = findings_advice(findings if findings is not None else diagnose(s))
        if advice:
            lines.append(advice)
    return "\n".join(lines)
