"""Allow ``python -m tui_trainer``."""

from tui_trainer.cli import main

raise SystemExit(main())
