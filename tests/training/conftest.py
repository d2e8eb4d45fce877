"""Fixtures of the training tests: a tiny synthetic store (three 640-px-high radiographs), built once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    from llm_viewer.cli import main

    out = tmp_path_factory.mktemp("training") / "store"
    assert main(["synth", "--count", "3", "--seed", "5", "--out", str(out), "--height-px", "640",
                 "--one-leg-rate", "0", "--no-progress"]) == 0
    return out


def train_tiny(store: Path, out: Path, *extra: str) -> None:
    """One step of every (or the named) part on the tiny store."""
    from training import train

    args = train.get_args_parser().parse_args(
        ["--data", str(store), "--out", str(out), "--epochs", "1", "--max-steps", "1", "--batch-size", "2",
         "--train-splits", "train,val,test", "--val-split", "none", "--no-progress", "--threads", "1", *extra])
    assert train.main(args) == 0


@pytest.fixture(scope="session")
def tiny_bundle(tiny_store, tmp_path_factory) -> Path:
    """A bundle (with refinement stage) trained one step per model on the tiny store."""
    out = tmp_path_factory.mktemp("bundle") / "model"
    train_tiny(tiny_store, out)
    return out
