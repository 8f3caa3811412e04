"""The PyTorch backend: the same debugger on any ``torch.nn.Module``.

Installed with ``pip install 'tui-trainer[torch]'``; nothing else in
tui-trainer imports torch (an import-linter contract keeps the core, the UI,
the scenario loader and the CLI free of it), so the core install stays
NumPy-only.
"""

from tui_trainer.torch.debug import debug
from tui_trainer.torch.session import TorchNonFinite, TorchSession, UserCodeError
from tui_trainer.torch.tools import TorchTools  # registers the debugger tools for TorchSession

__all__ = ["TorchNonFinite", "TorchSession", "TorchTools", "UserCodeError", "debug"]
