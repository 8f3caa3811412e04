"""The training engine: pure NumPy, no UI imports.

Usable from a notebook::

    from tui_trainer.engine import Session, TrainConfig, LayerSpec
"""
