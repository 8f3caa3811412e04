"""Training data for a TorchSession: tensor pairs or a DataLoader, with a replayable cursor.

Step-back replays from a keyframe, so the batch of any step must be found
again from ``(epoch, cursor)`` alone:

* ``TensorData`` (a pair ``(X, y)`` of tensors or arrays): the shuffle of
  epoch ``e`` is ``numpy.random.default_rng([seed, 2, e]).permutation(n)``,
  exactly the NumPy engine's, and a full batch is taken in order. It never
  touches a global random generator. The cursor counts samples.
* ``LoaderData`` (a ``torch.utils.data.DataLoader``): the cursor counts
  batches. A loader draws its shuffle (and worker seeds) from the global
  torch generator when its iterator is made, so the generator states at the
  start of each epoch are kept (``epoch_rng``); resuming mid-epoch makes the
  iterator again from that state, skips ``cursor`` batches, then puts the
  generators back as they were. Random transforms in the dataset replay too:
  the session restores the global generators at every keyframe.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def get_rng() -> dict[str, Any]:
    """The global random states that training code may draw from."""
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _as_tensor(a: Any, float_dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    if t.is_floating_point():
        t = t.to(float_dtype)
    return t.to(device)


class TensorData:
    """``(X, y)`` in memory; optional ``labels`` (class indices) for accuracy."""

    kind = "tensors"

    def __init__(
        self,
        x: Any,
        y: Any,
        *,
        batch_size: int,
        seed: int,
        float_dtype: torch.dtype,
        device: torch.device,
        labels: Any = None,
    ) -> None:
        self.x = _as_tensor(x, float_dtype, device)
        self.y = _as_tensor(y, float_dtype, device)
        if len(self.x) != len(self.y):
            raise ValueError(f"X has {len(self.x)} samples but y has {len(self.y)}")
        if len(self.x) == 0:
            raise ValueError("the training set is empty")
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels)).to(device)
        self.n = int(len(self.x))
        self.batch_size = batch_size
        self.seed = seed
        self._perm: tuple[int, torch.Tensor] | None = None

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        # The counters a step reads, worked out once per batch size.
        self._batch_size = value
        self._eb = self.n if value <= 0 else min(value, self.n)
        self._bpe = max(1, math.ceil(self.n / self._eb))

    def effective_batch(self) -> int:
        return self._eb

    def batches_per_epoch(self) -> int:
        return self._bpe

    def batch_number(self, cursor: int) -> int:
        return min(self._bpe, cursor // self._eb + 1)

    def _order(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, 2, epoch])  # the NumPy engine's stream 2
            self._perm = (epoch, torch.as_tensor(rng.permutation(self.n)).to(self.x.device))
        return self._perm[1]

    def batch(self, epoch: int, cursor: int) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
        """(x, y, labels, cursor after it) of the batch at ``cursor`` in ``epoch``."""
        bs = self._eb
        if bs >= self.n and cursor == 0:
            return self.x, self.y, self.labels, self.n
        idx = self._order(epoch)[cursor : cursor + bs]
        labels = None if self.labels is None else self.labels[idx]
        return self.x[idx], self.y[idx], labels, cursor + len(idx)

    def epoch_done(self, cursor: int) -> bool:
        return cursor >= self.n

    def forget_iterator(self) -> None:
        """Nothing to forget: batches are found from (epoch, cursor) alone."""

    def fingerprint(self, h: Any) -> None:
        for t in (self.x, self.y):
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())


class LoaderData:
    """A ``DataLoader``; the cursor counts the batches of the epoch already taken."""

    kind = "loader"

    def __init__(self, loader: Any, *, float_dtype: torch.dtype, device: torch.device) -> None:
        self.loader = loader
        self.float_dtype = float_dtype
        self.device = device
        self._iter: Iterator[Any] | None = None
        self.epoch_rng: dict[str, Any] | None = None  # generator states when this epoch began
        try:
            self.n_batches = len(loader)
        except TypeError:
            raise ValueError("the DataLoader must have a length (a map-style dataset)") from None
        if self.n_batches == 0:
            raise ValueError("the training DataLoader yields no batches")
        self.batch_size = int(getattr(loader, "batch_size", 0) or 0)

    def batches_per_epoch(self) -> int:
        return self.n_batches

    def batch_number(self, cursor: int) -> int:
        return min(self.n_batches, cursor + 1)

    def forget_iterator(self) -> None:
        self._iter = None

    def batch(self, epoch: int, cursor: int) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
        if self._iter is None:
            if cursor == 0:
                self.epoch_rng = get_rng()
                self._iter = iter(self.loader)
            else:
                if self.epoch_rng is None:
                    raise RuntimeError("no generator state for the start of this epoch")
                here = get_rng()
                set_rng(self.epoch_rng)
                it = iter(self.loader)
                for _ in range(cursor):
                    next(it)
                set_rng(here)
                self._iter = it
        item = next(self._iter)
        x, y = item[0], item[1]
        x = _as_tensor(x, self.float_dtype, self.device)
        y = _as_tensor(y, self.float_dtype, self.device)
        return x, y, None, cursor + 1

    def epoch_done(self, cursor: int) -> bool:
        if cursor >= self.n_batches:
            self._iter = None
            return True
        return False

    def fingerprint(self, h: Any) -> None:
        h.update(f"loader:{type(self.loader.dataset).__name__}:{self.n_batches}".encode())


def tensor_batches(loader: Any) -> list[tuple[torch.Tensor, ...]] | None:
    """The batches of a plain ``DataLoader(TensorDataset(...), batch_size=k)`` (in order,
    default collation, no transform) as slices of its tensors, or None for any other loader.

    The same values in the same batches as iterating the loader, without collating
    every sample one by one: the validation pass at each epoch's end is that cost.
    """
    from torch.utils.data import BatchSampler, SequentialSampler, TensorDataset
    from torch.utils.data._utils.collate import default_collate

    ds = getattr(loader, "dataset", None)
    bs = getattr(loader, "batch_size", None)
    if (
        type(ds) is not TensorDataset
        or not bs
        or type(loader.sampler) is not SequentialSampler
        or type(loader.batch_sampler) is not BatchSampler
        or loader.collate_fn is not default_collate
        or loader.num_workers != 0
    ):
        return None
    n = len(ds)
    stop = n - n % bs if loader.drop_last else n
    return [tuple(t[i : i + bs] for t in ds.tensors) for i in range(0, stop, bs)]
