"""When the training loop writes ``checkpoint.pt``: its copy in memory is taken every epoch, the
file at most every ``CHECKPOINT_EVERY_SECONDS`` and on any exception that leaves ``fit``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_multilabel_classification

from mlbench.methods import neural
from mlbench.methods.base import FitContext
from mlbench.methods.mlp import BCEMethod
from mlbench.methods.neural import CHECKPOINT, TRAIN_LOG

SMALL = {"hidden": [32, 32], "epochs": 6, "batch_size": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(300, n_features=20, n_classes=5, random_state=0)
    return X[:200], Y[:200], X[200:250], Y[200:250], X[250:]


class OnDisk(BCEMethod):
    """Records, at each epoch's end, whether the checkpoint file is there and its epoch."""

    def on_epoch_end(self, stage, record):
        path = self.context_.run_dir / CHECKPOINT
        self.seen.append(torch.load(path, weights_only=True)["current"]["state"]["epoch"] if path.exists() else None)


class StopInBatch(BCEMethod):
    """Ctrl-C in the middle of an epoch, after some of its optimizer steps changed the weights."""

    stop_at: tuple[int, int] | None = None  # (epoch counted from 1, batch counted from 1)

    def batch_loss(self, module, xb, yb):
        self.batches += 1
        if self.stop_at and (len(self.log_) + 1, self.batches % 7 or 7) == self.stop_at:
            raise KeyboardInterrupt
        return super().batch_loss(module, xb, yb)


def fit(cls, data, run_dir, resume=False, **attrs):
    X, Y, Xv, Yv, _ = data
    est = cls(**SMALL)
    est.seen, est.batches = [], 0
    for key, value in attrs.items():
        setattr(est, key, value)
    return est.fit(X, Y, Xv, Yv, FitContext(seed=0, progress=False, run_dir=run_dir, resume=resume))


def test_fast_fit_writes_no_checkpoint_until_it_ends(data, tmp_path):
    est = fit(OnDisk, data, tmp_path)
    assert est.seen == [None] * 6  # no epoch took 30 s: nothing written in the loop
    assert not (tmp_path / CHECKPOINT).exists() and len((tmp_path / TRAIN_LOG).read_text().splitlines()) == 7


def test_interval_zero_writes_every_epoch(data, tmp_path, monkeypatch):
    monkeypatch.setattr(neural, "CHECKPOINT_EVERY_SECONDS", 0.0)
    est = fit(OnDisk, data, tmp_path)
    assert est.seen == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("stop_at", [(1, 3), (4, 5)])
def test_interrupt_inside_an_epoch_resumes_from_the_last_finished_one(data, tmp_path, stop_at):
    """The checkpoint written on the interrupt is the copy taken at the last epoch's end, not the
    weights the interrupted epoch had half updated: the resumed fit equals an uninterrupted one."""
    ref = fit(StopInBatch, data, tmp_path / "ref")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(StopInBatch, data, run, stop_at=stop_at)
    finished = stop_at[0] - 1
    if finished == 0:
        assert not (run / CHECKPOINT).exists()  # nothing finished: nothing to keep
    else:
        ckpt = torch.load(run / CHECKPOINT, weights_only=True)
        assert ckpt["current"]["state"]["epoch"] == finished - 1 and len(ckpt["log"]) == finished
    resumed = fit(StopInBatch, data, run, resume=True)
    assert np.array_equal(resumed.predict_proba(data[4]), ref.predict_proba(data[4]))
    assert resumed.best_epoch_ == ref.best_epoch_
