"""Shared fixtures: one real example release (a tiny model really trained) built per session,
copied fresh for each test that plants a defect in it; and the helpers every test file uses to
run the CLI as a user does and to plant a silent defect in a tensor."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from audit.readers import yamlio
from audit.core.auditor import Auditor
from audit.core.options import AuditOptions
from audit.example.build import build_example
from audit.init import init_release
from audit.replay import ReplayOptions

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_release(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("built") / "release"
    build_example(path)
    return path


@pytest.fixture(scope="session")
def hf_trained(tmp_path_factory) -> Path:
    """One real Hugging Face Trainer run per session (tests/hf_run.py), kept as the Trainer wrote it."""
    pytest.importorskip("transformers")  # optional: the test extra installs both
    pytest.importorskip("accelerate")  # transformers' Trainer needs it
    from hf_run import train

    out = tmp_path_factory.mktemp("hf") / "trainer-output"
    train(out)
    return out


@pytest.fixture
def hf_release(hf_trained, tmp_path) -> Path:
    """A private copy of the Trainer output, with the manifest init writes."""
    root = tmp_path / "hf-release"
    shutil.copytree(hf_trained, root)
    init_release(root)
    return root


@pytest.fixture
def release(built_release, tmp_path) -> Path:
    """A private copy of the example release, free to damage."""
    return copy_release(built_release, tmp_path)


def copy_release(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(src, dst)
    return dst


def audit(root: Path, replay: str = "none", **replay_options):
    """Audit in-process; structural checks only unless ``replay`` asks for segments."""
    return Auditor().audit(root, AuditOptions(replay=ReplayOptions(mode=replay, **replay_options)))


def finding_ids(report) -> set[str]:
    return {f.id for f in report.findings}


def manifest(root: Path) -> dict:
    return yamlio.loads((root / "llm360.yaml").read_bytes())


def write_manifest(root: Path, data: dict) -> None:
    (root / "llm360.yaml").write_text(yamlio.dumps(data))


def refresh(root: Path) -> None:
    init_release(root)


def cli_command(*args: str, prelude: str | None = None) -> list[str]:
    """The argv that runs the CLI as a user does, ``python -m audit ARGS``. With ``prelude``, that Python
    code runs first in the same process (to hide a module, say), then the CLI's ``main()`` on ARGS."""
    if prelude is None:
        return [sys.executable, "-m", "audit", *args]
    return [sys.executable, "-c", f"{prelude}\nfrom audit.cli import main; main()", *args]


def _cli_env(env: dict[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300,
            prelude: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a child process to its end; stdout and stderr captured as text. ``env`` is added to
    this process's environment; ``prelude`` as for :func:`cli_command`."""
    return subprocess.run(cli_command(*args, prelude=prelude), capture_output=True, text=True, cwd=cwd,
                          env=_cli_env(env), timeout=timeout)  # fmt: skip


def start_cli(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """Start the CLI in a child process and return at once (text streams; ``env`` as for :func:`run_cli`)."""
    return subprocess.Popen(cli_command(*args), env=_cli_env(env), text=True, **popen)


def flip_tensor_byte(path: Path, at: int = -100, mask: int = 0x01) -> None:
    """Plant a silent defect in a safetensors file: XOR one byte of its tensor data with ``mask``.

    ``at`` counts from the start of the tensor data (past the 8-byte length and the JSON header) when
    it is 0 or more, from the end of the file when negative. The size and the header stay as they
    were, so the file still parses and only its digest tells."""
    data = bytearray(path.read_bytes())
    (header,) = struct.unpack("<Q", data[:8])
    start = 8 + header
    i = start + at if at >= 0 else len(data) + at
    assert start <= i < len(data), f"byte {at} is not in the tensor data of {path} (bytes {start}-{len(data) - 1})"
    data[i] ^= mask
    path.write_bytes(bytes(data))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


LITGPT_RUN = Path(__file__).resolve().parent / "litgpt_run"


@pytest.fixture(scope="session")
def litgpt_run(tmp_path_factory) -> Path:
    """One real ``litgpt pretrain`` run per session (tests/litgpt_run), kept exactly as LitGPT wrote it. Its
    data lies inside the release: seeded token ids written by ``litdata.optimize`` (tinydata.py, no download,
    no tokenizer) to ``data/``, read by litdata's StreamingDataset unshuffled. TORCHDYNAMO_DISABLE makes
    pretrain's torch.compile a no-op (no C++ build on CPU). Used by test_litgpt.py and test_litgpt_replay.py."""
    out = tmp_path_factory.mktemp("litgpt") / "release"
    env = {**os.environ, "PYTHONPATH": str(LITGPT_RUN), "TORCHDYNAMO_DISABLE": "1", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    for cmd in ([sys.executable, str(LITGPT_RUN / "tinydata.py"), str(out / "data")],
                [sys.executable, "-m", "litgpt", "pretrain", "tiny-llama", "--config", str(LITGPT_RUN / "pretrain.yaml"),
                 "--out_dir", str(out), "--data.data_path", str(out / "data")]):  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=out.parent)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out


@pytest.fixture
def litgpt_copy(litgpt_run, tmp_path) -> Path:
    """A copy of the session's LitGPT run that a test may change."""
    return copy_release(litgpt_run, tmp_path)


@pytest.fixture(scope="session")
def megatron_saves(tmp_path_factory) -> tuple[Path, Path]:
    """One megatron-core run per session (tests/megatron_run/train.py, about 20 s on CPU), every checkpoint
    saved twice, each kept as it was written: the legacy ``torch`` layout (with the TensorBoard log), and
    ``torch_dist`` by megatron-core's own ``dist_checkpointing.save``."""
    pytest.importorskip("megatron.core", reason="megatron-core is not installed (pip install -e '.[test]')")
    base = tmp_path_factory.mktemp("megatron")
    legacy, dist = base / "release", base / "torch_dist"
    run = Path(__file__).resolve().parent / "megatron_run" / "train.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, str(run), str(legacy), str(dist)], capture_output=True, text=True,
                       timeout=600, env=env)  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return legacy, dist
