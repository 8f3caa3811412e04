"""A scenario's dense network as a ``torch.nn.Sequential``, with the NumPy engine's initial weights.

``backend = "torch"`` in a scenario's ``[training]`` runs the same network
through PyTorch. Layer ``i`` becomes the block ``str(i)``::

    nn.Sequential(
        "0": nn.Sequential(nn.Linear(n_in, h1), nn.ReLU()),   # pause module "0"
        "1": nn.Sequential(nn.Linear(h1, h2), nn.Tanh()),     # pause module "1"
        "2": nn.Sequential(nn.Linear(h2, n_out)),             # linear output: no activation
    )

so the session pauses once per layer, as the NumPy engine does (the same
``E = 2 * layers + 2`` events per step, the same positions).

Weights: the NumPy engine draws them (``Network.build``, stream 1 of the
seed) and stores ``W`` as ``(in, out)`` for ``x @ W + b``; ``nn.Linear``
stores ``weight`` as ``(out, in)`` for ``x @ weight.T + bias``. So
``linear.weight = W.T`` and ``linear.bias = b``: the same function.

Losses and optimizers are PyTorch's own, which the NumPy engine follows:
``mse`` -> ``nn.MSELoss()``, ``cross_entropy`` -> ``nn.CrossEntropyLoss()``,
``binary_cross_entropy`` -> ``nn.BCEWithLogitsLoss()``; ``sgd`` ->
``SGD(lr)``, ``momentum`` -> ``SGD(lr, momentum)``, ``adam`` ->
``Adam(lr, betas, eps)``. ``l2`` is ``weight_decay`` on the weight matrices
only (the NumPy engine adds ``l2 * W`` to ``dW`` and leaves biases alone),
so the biases are a second param group with ``weight_decay = 0``.
The shuffle is the NumPy engine's (``TensorData``), so batches agree too.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from tui_trainer.engine.config import Dataset, TrainConfig
from tui_trainer.engine.losses import make_loss
from tui_trainer.engine.network import Network
from tui_trainer.torch.session import NO_DECAY, TorchSession

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _activation(name: str, slope: float) -> nn.Module | None:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(slope)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "linear":
        return None
    raise ValueError(f"unknown activation {name!r}")


def build_model(cfg: TrainConfig, n_in: int) -> nn.Sequential:
    """The scenario's network with exactly the NumPy engine's initial weights."""
    dtype = _DTYPES[cfg.dtype]
    net = Network.build(cfg, n_in)
    blocks: list[tuple[str, nn.Module]] = []
    for i, (spec, ly) in enumerate(zip(cfg.layers, net.layers, strict=True)):
        lin = nn.Linear(ly.n_in, ly.n_out, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(ly.W.T)))
            lin.bias.copy_(torch.from_numpy(np.array(ly.b)))
        act = _activation(spec.activation, cfg.leaky_slope)
        parts = [lin] if act is None else [lin, act]
        blocks.append((str(i), nn.Sequential(*parts)))
    return nn.Sequential(OrderedDict(blocks))


def build_loss(name: str) -> nn.Module:
    if name == "mse":
        return nn.MSELoss()
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()
    if name == "binary_cross_entropy":
        return nn.BCEWithLogitsLoss()
    raise ValueError(f"unknown loss {name!r}")


def build_optimizer(cfg: TrainConfig, model: nn.Sequential) -> torch.optim.Optimizer:
    weights = [blk[0].weight for blk in model]
    biases = [blk[0].bias for blk in model]
    groups: list[dict[str, Any]] = [
        {"params": weights, "weight_decay": cfg.l2},
        {"params": biases, "weight_decay": 0.0, NO_DECAY: True},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.0, foreach=False)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, foreach=False)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(
            groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=False
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def unsupported(cfg: TrainConfig) -> str:
    """What of ``cfg`` this backend cannot yet train exactly as the NumPy engine
    does ("" when nothing): dropout (the NumPy engine's masks come from its own
    seeded generator), L1 and learning-rate schedules."""
    missing = []
    if any(ly.dropout for ly in cfg.layers):
        missing.append("dropout (model.dropout)")
    if cfg.l1:
        missing.append("L1 (training.l1)")
    if cfg.schedule != "constant":
        missing.append(f"the {cfg.schedule} lr schedule (training.schedule)")
    return ", ".join(missing)


def session_from_config(cfg: TrainConfig, data: Dataset) -> TorchSession:
    """A TorchSession training the scenario's network on its data, as the NumPy Session would.

    Raises ValueError for settings the torch backend does not support yet
    (:func:`unsupported`), rather than training something else silently.
    """
    missing = unsupported(cfg)
    if missing:
        raise ValueError(f"the torch backend does not support {missing} yet")
    dtype = np.dtype(cfg.dtype)
    n_out = cfg.layers[-1].units
    loss = make_loss(cfg.loss)
    classification = data.task == "classification"
    y_train = loss.prepare_targets(data.y_train, n_out, dtype)
    y_val = loss.prepare_targets(data.y_val, n_out, dtype)
    model = build_model(cfg, int(data.x_train.shape[1]))
    val = (data.x_val, y_val) if len(data.x_val) else None
    return TorchSession(
        model,
        build_loss(cfg.loss),
        build_optimizer(cfg, model),
        (np.asarray(data.x_train, dtype=dtype), y_train),
        val=None if val is None else (np.asarray(val[0], dtype=dtype), val[1]),
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        seed=cfg.seed,
        modules=[str(i) for i in range(len(cfg.layers))],
        history_steps=cfg.history_steps,
        history_bytes=cfg.history_bytes,
        labels=data.y_train if classification else None,
        val_labels=data.y_val if classification else None,
    )


def session_from_scenario(scenario: Any) -> TorchSession:
    """The torch session of a loaded ``Scenario`` (whatever its ``backend`` says)."""
    data = scenario.load_data()
    return session_from_config(scenario.train_config(data), data)
