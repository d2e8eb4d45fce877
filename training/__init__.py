"""Training and evaluation of the models (never imports the GUI).

Importing :mod:`llm_viewer` first sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (unless the environment
chose): libgomp's spinning threads made a detector epoch 6x slower on two shared cores.
"""

import llm_viewer  # noqa: F401  (sets the OpenMP wait policy before torch is imported)
