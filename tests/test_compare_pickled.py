"""The replay compares torch.save files (LitGPT's lit_model.pth, HF's optimizer.pt) by value: every tensor
bitwise with its ULP distance, every other value exactly; a hostile file is refused by the static scan
before any loader sees it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from audit.replay.compare import CompareError, compare_states


def _checkpoint(path: Path) -> None:
    """A real nested checkpoint: a tiny model after one AdamW step, LitGPT-style."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter_num": 1, "step_count": 1}, path)


@pytest.fixture
def pair(tmp_path):
    released, replayed = tmp_path / "released", tmp_path / "replayed"
    released.mkdir()
    _checkpoint(released / "lit_model.pth")
    shutil.copytree(released, replayed)
    return released, replayed


def test_an_identical_checkpoint_compares_equal_tensor_by_tensor(pair):
    result = compare_states(*pair, ["lit_model.pth"])
    assert result.identical
    assert result.compared == 2 + 2 * 3  # weight and bias, then step and both moments of each


def test_one_ulp_in_one_weight_is_found_and_named(pair):
    released, replayed = pair
    obj = torch.load(replayed / "lit_model.pth", weights_only=True)
    w = obj["model"]["weight"]
    w.view(torch.int32)[1, 2] += 1
    torch.save(obj, replayed / "lit_model.pth")
    result = compare_states(released, replayed, ["lit_model.pth"])
    assert [(d.name, d.max_ulp, d.differing) for d in result.diffs] == [("lit_model.pth:model.weight", 1, 1)]
    assert not result.fields and not result.missing


def test_other_values_are_compared_exactly(pair):
    released, replayed = pair
    obj = torch.load(replayed / "lit_model.pth", weights_only=True)
    obj["iter_num"] = 2
    obj["optimizer"]["param_groups"][0]["lr"] = 2e-3
    del obj["optimizer"]["state"][1]
    torch.save(obj, replayed / "lit_model.pth")
    result = compare_states(released, replayed, ["lit_model.pth"])
    assert result.fields == ["lit_model.pth:iter_num", "lit_model.pth:optimizer.param_groups.0.lr"]
    assert result.missing == [f"lit_model.pth:optimizer.state.1.{k}" for k in ("exp_avg", "exp_avg_sq", "step")]


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_released_file_is_refused_before_loading(pair, tmp_path):
    released, replayed = pair
    marker = tmp_path / "ran"
    torch.save({"model": _Payload(marker)}, released / "lit_model.pth")
    with pytest.raises(CompareError, match=r"released lit_model.pth: a pickle that would import (posix|os)\.system"):
        compare_states(released, replayed, ["lit_model.pth"])
    assert not marker.exists()
