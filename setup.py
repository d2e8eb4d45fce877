"""Copies the top-level ``resources/`` folder into the wheel as ``llm_viewer/resources`` (package data)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads resources/ from the source tree
        src = Path(__file__).resolve().parent / "resources"
        dst = Path(self.build_lib) / "llm_viewer" / "resources"
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


setup(cmdclass={"build_py": BuildPyWithResources})
