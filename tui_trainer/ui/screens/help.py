"""The help screen: every key, what the phases are, and the words used."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_trainer.ui.screens.dialog import Dialog

# One source line per paragraph or list item would be long, so lines end in
# a backslash: the text has newlines only where a paragraph or item ends, and
# the screen wraps each paragraph to its own width (pre-wrapped lines would be
# wrapped a second time at 80 columns into ragged halves).
GLOSSARY = """\
[b]One training step[/b] = FORWARD PASS (each layer computes z = x W + b, a = act(z))
 > LOSS (how wrong the outputs are, averaged over the batch)
 > BACKPROPAGATION (the chain rule gives dL/dW for every weight, last layer first)
 > UPDATE (gradient descent: w <- w - learning_rate * gradient).
An epoch is one pass over all training batches. Validation loss is measured on \
held-out points after every epoch: when it rises while training loss falls, the \
model is memorising (overfitting).

Numbering: layers are shown as L1, L2, ... but weight indices, samples and the \
layer index in expressions count from 0 like NumPy: grad_norm[0] and W[0][2,1] \
are about layer L1 (row 2 = input unit 2, column 1 = output unit 1).

Conventions (as PyTorch): W has shape (in, out); mse = mean over all elements; \
cross_entropy = mean over the batch of -log softmax(z)[target]; L2 adds l2*W to dW, \
L1 adds l1*sign(W); dropout p zeroes a hidden unit with probability p in training \
steps and scales the rest by 1/(1-p); an lr schedule scales the base lr per epoch."""


class HelpScreen(Dialog[None]):
    """Keys grouped like a debugger's, plus a short glossary."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "close", id="help_close"),
    ]

    def action_close(self) -> None:
        self.dismiss(None)  # Dialog.dismiss ignores a queued second close

    def compose(self) -> ComposeResult:
        table = Table(title="tui-trainer keys", box=None, padding=(0, 2))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        keymap = getattr(self.app, "help_rows", lambda: [])()
        for keys, desc in keymap:
            table.add_row(keys, desc)
        with VerticalScroll(id="help-body"):
            yield Static(table)
            yield Static(GLOSSARY, id="glossary")
            yield Static(
                "[dim]Esc or ? closes. Remap keys in ~/.config/tui-trainer/keys.toml[/dim]"
            )
