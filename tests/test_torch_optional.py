"""torch stays optional: the core, the UI, the scenario loader and the CLI never import it."""

from __future__ import annotations

import subprocess
import sys


def test_core_ui_scenario_and_cli_import_without_torch():
    code = (
        "import sys\n"
        "import tui_trainer.cli, tui_trainer.scenario, tui_trainer.ui.app\n"
        "import tui_trainer.engine.session, tui_trainer.engine.session_api\n"
        "from tui_trainer.scenario import load_scenario, builtin_dir\n"
        "s = load_scenario(builtin_dir() / 'xor.toml')\n"
        "d = s.load_data(); s.train_config(d)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'tui_trainer.torch')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
