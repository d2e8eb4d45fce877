"""Guard against the shiboken6 6.12 / CPython 3.11 reference-count bug.

shiboken6 6.12.0 drops a reference of ``None`` on every void Qt call and of ``True``/``False`` on every
``Signal.emit`` under Python 3.11; the interpreter aborts ("none_dealloc") after a few thousand calls.
The project pins PySide6-Essentials 6.11.3, which does not have it. This test fails if an upgrade brings
the bug back.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6 import QtCore
class O(QtCore.QObject):
    s = QtCore.Signal(bool)
o = O()
o.s.connect(lambda b: None)
n0, t0 = sys.getrefcount(None), sys.getrefcount(True)
for _ in range(20000):
    o.setObjectName("x")
    o.s.emit(True)
print(abs(sys.getrefcount(None) - n0) < 100, abs(sys.getrefcount(True) - t0) < 100)
"""


def test_void_calls_and_emits_do_not_leak_singletons():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]
