"""``python -m llm_viewer`` is the ``llm-viewer`` command."""

import sys

from llm_viewer.cli import main

sys.exit(main())
