"""torch stays optional: the core, the UI, the scenario loader and the CLI never import it."""

from __future__ import annotations

import subprocess
import sys

from tui_trainer.cli import main


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


def test_open_and_run_refuse_a_torch_backend_scenario_instead_of_ignoring_it(tmp_path, capsys):
    p = tmp_path / "t.toml"
    p.write_text('[data]\nkind = "xor"\n\n[training]\nbackend = "torch"\nepochs = 1\n')
    assert main(["run", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:5" in err and "training.backend" in err and "Python only" in err
    assert "Traceback" not in err
    assert main(["check", str(p)]) == 0  # the file itself is valid
