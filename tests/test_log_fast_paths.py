"""The fast paths of the structural audit give the line-by-line results: the training log read in blocks
(C-level loops) against the line reader, and the learning-rate schedule checked with numpy against lr_at."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from audit.checks.metrics import VECTOR_MIN_ROWS, lr_mismatches
from audit.readers import training_log
from audit.readers.training_log import read_training_log
from audit.spec.manifest import LrSchedule
from audit.spec.schedule import SCHEDULES, lr_at

rng = random.Random(0)
CASES = {
    "regular": "".join(json.dumps({"step": s, "loss": rng.random(), "learning_rate": 1e-4 * s, "grad_norm": rng.random()})
                       + "\n" for s in range(1, 3000)),
    "no final newline": "".join(json.dumps({"step": s, "loss": 1.5}) + "\n" for s in range(1, 10)).rstrip("\n"),
    "crlf": '{"step":1,"loss":1.0}\r\n{"step":2,"loss":2.0}\r\n',
    "empty": "",
    "blank line": '{"step":1,"loss":1.0}\n\n{"step":2,"loss":1.0}\n',
    "whitespace only": "   \n",
    "integer loss": '{"step":1,"loss":1}\n{"step":2,"loss":1.0}\n',
    "NaN": '{"step":1,"loss":NaN}\n{"step":2,"loss":1.0}\n',
    "infinite": '{"step":1,"loss":1e999}\n',
    "duplicate step": '{"step":1,"loss":1.0}\n{"step":1,"loss":1.0}\n',
    "not JSON": '{"step":1,"loss":1.0}\nnot json\n',
    "a field on some lines": '{"step":1,"loss":1.0,"grad_norm":0.5}\n{"step":2,"loss":1.0}\n',
    "integer beyond 64 bits": '{"step":1,"loss":1e300}\n{"step":2,"loss":123456789012345678901234567890}\n',
    "step beyond 64 bits": '{"step":123456789012345678901234567890,"loss":1.0}\n',
    "boolean": '{"step":1,"loss":true}\n',
    "not an object": "[1,2]\n",
    "out of order": '{"step":2,"loss":1.0}\n{"step":1,"loss":1.0}\n',
    "no step": '{"loss":1.0}\n',
}  # fmt: skip


def _line_by_line(path: Path, monkeypatch) -> training_log.TrainingLog:
    with monkeypatch.context() as m:
        m.setattr(training_log, "_read_regular", lambda p: None)
        return read_training_log(path)


def _same(a: training_log.TrainingLog, b: training_log.TrainingLog) -> None:
    assert list(a.rows) == list(b.rows)
    for step in a.rows:
        ra, rb = a.rows[step], b.rows[step]
        assert ra.keys() == rb.keys()
        assert all(ra[k] == rb[k] or (math.isnan(ra[k]) and math.isnan(rb[k])) for k in ra)
        assert a.rows.position(step) == b.rows.position(step)
    assert (a.problems, a.non_finite, a.missing_fields, a.first_problem_line) == (
        b.problems, b.non_finite, b.missing_fields, b.first_problem_line)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("block", [training_log.BLOCK_BYTES, 64])
def test_the_block_reader_gives_what_the_line_reader_gives(name, block, tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    path.write_text(CASES[name])
    monkeypatch.setattr(training_log, "BLOCK_BYTES", block)
    _same(read_training_log(path), _line_by_line(path, monkeypatch))


def test_the_common_log_takes_the_block_path(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(CASES["regular"])
    assert training_log._read_regular(path) is not None
    path.write_text(CASES["blank line"])
    assert training_log._read_regular(path) is None


def _log(tmp_path: Path, schedule: LrSchedule, n: int, off: dict[int, float]) -> training_log.TrainingLog:
    kw = dict(schedule=schedule.name, peak_lr=schedule.peak_lr, final_lr=schedule.final_lr,
              warmup_steps=schedule.warmup_steps, total_steps=schedule.total_steps)  # fmt: skip
    path = tmp_path / "log.jsonl"
    with open(path, "w") as f:
        for s in range(1, n + 1):
            f.write(json.dumps({"step": s, "loss": 2.0, "learning_rate": off.get(s, lr_at(s, **kw))}) + "\n")
    return read_training_log(path)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("n", [VECTOR_MIN_ROWS - 1, VECTOR_MIN_ROWS + 500])
def test_the_schedule_check_finds_the_same_steps_vectorised_or_not(name, n, tmp_path):
    s = LrSchedule(name=name, peak_lr=3e-4, final_lr=3e-5, warmup_steps=2000, total_steps=n - 100)
    right = lr_at(12345, schedule=name, peak_lr=3e-4, final_lr=3e-5, warmup_steps=2000, total_steps=n - 100)
    off = {12345: right * (1 + 2e-5), 17: 1.0}  # just beyond the 1e-5 tolerance, and far off
    near = {12346: lr_at(12346, schedule=name, peak_lr=3e-4, final_lr=3e-5, warmup_steps=2000,
                         total_steps=n - 100) * (1 + 5e-6)}  # within it  # fmt: skip
    bad = lr_mismatches(_log(tmp_path, s, n, off | near), s)
    assert [step for step, _, _ in bad] == [17, 12345]
    assert bad[0][1] == 1.0 and bad[0][2] == lr_at(17, schedule=name, peak_lr=3e-4, final_lr=3e-5,
                                                    warmup_steps=2000, total_steps=n - 100)  # fmt: skip


def test_absent_steps_are_counted_without_a_set_of_every_step():
    from audit.readers.training_log import StepTable

    r = random.Random(3)
    for _ in range(500):
        table = StepTable()
        steps = sorted(r.sample(range(-3, 60), r.randrange(0, 40)))
        if r.random() < 0.3:
            r.shuffle(steps)
        for s in steps:
            table.add(s, {})
        last = r.randrange(0, 70)
        want = sorted(set(range(1, last + 1)) - set(steps))
        assert table.absent(last) == (len(want), want[:5])


def test_token_ids_beyond_64_bits_are_read_exactly_not_as_floats(tmp_path):
    """The chunk scan checks each token list once; a float it did not expect (orjson's reading of an integer
    beyond 64 bits) makes it read the line again exactly: out of the vocabulary, not malformed."""
    from audit.formats.registry import scan_chunk
    from audit.spec.manifest import DataFormat

    path = tmp_path / "chunk.jsonl"
    path.write_text('{"token_ids": [1, 2, 3]}\n{"token_ids": [4, 123456789012345678901234567890]}\n'
                    '{"token_ids": [5, 6.5]}\n')  # fmt: skip
    scan = scan_chunk(path, DataFormat(), vocab_size=100)
    assert (scan.sequences, scan.out_of_vocab, scan.vocab_line) == (2, 1, 2)
    assert (scan.malformed, scan.malformed_line) == (1, 3)
    assert scan.max_token_id == 123456789012345678901234567890


def test_identical_headers_are_parsed_once_and_large_ones_are_not_kept(tmp_path):
    """The checkpoints of one run share one parsed header; a large header (a hostile one, say) is parsed each
    time rather than held in memory."""
    from audit.readers import safetensors_header as sh
    from safetensors.torch import save_file
    import torch

    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for p in (a, b):
        save_file({"w": torch.zeros(2, 3)}, str(p))
    assert sh.read_header(a) is sh.read_header(b)
    big = {f"t{i:06d}": torch.zeros(1) for i in range(sh._SEEN_MAX_BYTES // 40)}
    for p in (a, b):
        save_file(big, str(p))
    first, second = sh.read_header(a), sh.read_header(b)
    assert first == second and first is not second


def test_the_vectorised_schedules_are_exactly_those_lr_array_computes():
    import numpy as np

    from audit.spec.schedule import VECTORISED, lr_array

    computed = {n for n in SCHEDULES if lr_array(np.arange(1, 5), schedule=n, peak_lr=1e-3, final_lr=1e-4,
                                                 warmup_steps=2, total_steps=10) is not None}  # fmt: skip
    assert computed == set(VECTORISED)
