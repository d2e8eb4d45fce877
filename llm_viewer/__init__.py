"""llm-viewer: lower-limb alignment assessment on full-leg radiographs."""

import os as _os

# OpenMP threads that spin while waiting for work fight other processes for the cores: under one competing
# busy process, a spinning team made the analysis 10x slower instead of about 1.5x. libgomp reads the policy
# once, when torch loads it, so it is set here, before anything can import torch; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
