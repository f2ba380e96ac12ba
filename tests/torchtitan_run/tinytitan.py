"""A tiny torchtitan job (``--module tinytitan --config tiny``): torchtitan's own Llama 3 model code at 2
layers, dim 64, vocab 256, trained by torchtitan's Trainer for 20 steps with a DCP checkpoint every 5 and
TensorBoard metrics. The data is seeded token ids generated in memory (no download, no tokenizer files):
a stateful iterable dataset whose cursor torchtitan's checkpoint saves, like its HF text dataset does."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributed.checkpoint.stateful import Stateful
from torch.utils.data import IterableDataset

from torchtitan.components.checkpoint import CheckpointManager
from torchtitan.components.dataloader import ParallelAwareDataloader
from torchtitan.components.loss import CrossEntropyLoss
from torchtitan.components.metrics import MetricsProcessor
from torchtitan.components.optimizer import LRSchedulersContainer, default_adamw
from torchtitan.components.tokenizer import BaseTokenizer
from torchtitan.config import ParallelismConfig, TrainingConfig
from torchtitan.config.configs import DebugConfig
from torchtitan.models.common import ComplexRoPE, Embedding, Linear, RMSNorm, compute_ffn_hidden_dim
from torchtitan.models.llama3 import _EMBEDDING_INIT, _NORM_INIT, _build_llama3_layers, _output_linear_init
from torchtitan.models.llama3 import model_registry
from torchtitan.models.llama3.model import Llama3Model
from torchtitan.trainer import Trainer

VOCAB, DIM, HEADS, LAYERS, SEQ = 256, 64, 4, 2, 32
SEED = 1234  # the data's; the model's is --debug.seed
DOCUMENTS = 4096


class TinyTokenizer(BaseTokenizer):
    """Token ids are the bytes of the text (never called: the data is token ids already)."""

    @dataclass(kw_only=True, slots=True)
    class Config(BaseTokenizer.Config):
        pass

    def __init__(self, config: Config | None = None, *, tokenizer_path: str = ""):
        super().__init__()
        self.bos_id, self.eos_id = 1, 2

    def encode(self, text: str, *args, **kwargs) -> list[int]:
        return list(text.encode())

    def decode(self, ids, *args, **kwargs) -> str:
        return bytes(ids).decode(errors="replace")

    def get_vocab_size(self) -> int:
        return VOCAB


class SeededTokens(IterableDataset, Stateful):
    """Documents of seeded random token ids (lengths 8..40), packed into sequences of ``seq_len`` as
    torchtitan's HuggingFaceTextDataset packs text: inputs/labels shifted within each document,
    per-document positions. Its cursor (document index and the packing buffers) is its state."""

    def __init__(self, seq_len: int):
        g = torch.Generator().manual_seed(SEED)
        lengths = torch.randint(8, 41, (DOCUMENTS,), generator=g).tolist()
        self.documents = [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in lengths]
        self.seq_len = seq_len
        self._sample_idx = 0
        self._inputs, self._labels, self._positions = [], [], []

    def __iter__(self):
        while self._sample_idx < len(self.documents):
            doc = [1, *self.documents[self._sample_idx], 2]
            self._sample_idx += 1
            self._inputs.extend(doc[:-1])
            self._labels.extend(doc[1:])
            self._positions.extend(range(len(doc) - 1))
            while len(self._inputs) >= self.seq_len:
                n = self.seq_len
                inputs, labels, positions = self._inputs[:n], self._labels[:n], self._positions[:n]
                self._inputs, self._labels, self._positions = self._inputs[n:], self._labels[n:], self._positions[n:]
                offset = positions[0]
                positions = [p - offset if i < (positions.index(0) if 0 in positions else n) else p
                             for i, p in enumerate(positions)]
                yield ({"input": torch.LongTensor(inputs), "positions": torch.LongTensor(positions)},
                       torch.LongTensor(labels))

    def state_dict(self):
        return {"sample_idx": self._sample_idx, "inputs_buffer": self._inputs, "labels_buffer": self._labels,
                "positions_buffer": self._positions}

    def load_state_dict(self, state_dict):
        self._sample_idx = state_dict["sample_idx"]
        self._inputs, self._labels = state_dict["inputs_buffer"], state_dict["labels_buffer"]
        self._positions = state_dict["positions_buffer"]


class TinyDataLoader(ParallelAwareDataloader):
    @dataclass(kw_only=True, slots=True)
    class Config(ParallelAwareDataloader.Config):
        dataset: str = "seeded_tokens"

    def __init__(self, config: Config, *, dp_world_size: int, dp_rank: int, tokenizer, seq_len: int,
                 local_batch_size: int, snapshot_every_n_steps: int | None = 1, **kwargs):
        super().__init__(SeededTokens(seq_len), dp_rank=dp_rank, dp_world_size=dp_world_size,
                         batch_size=local_batch_size, snapshot_every_n_steps=snapshot_every_n_steps)


def tiny() -> Trainer.Config:
    spec = model_registry("debugmodel")
    spec.flavor = "tiny"
    spec.model = Llama3Model.Config(
        dim=DIM,
        vocab_size=VOCAB,
        tok_embeddings=Embedding.Config(num_embeddings=VOCAB, embedding_dim=DIM, param_init=_EMBEDDING_INIT),
        norm=RMSNorm.Config(normalized_shape=DIM, param_init=_NORM_INIT),
        lm_head=Linear.Config(in_features=DIM, out_features=VOCAB, param_init=_output_linear_init(DIM)),
        layers=_build_llama3_layers(
            fuse_qkv=True, n_layers=LAYERS, dim=DIM, n_heads=HEADS,
            hidden_dim=compute_ffn_hidden_dim(DIM, multiple_of=32),
            rope=ComplexRoPE.Config(dim=DIM // HEADS, max_seq_len=SEQ * 4, theta=500000, scaling="llama"),
            attn_backend="flex",
        ),
    )
    return Trainer.Config(
        loss=CrossEntropyLoss.Config(),
        hf_assets_path="./no-assets",
        model_spec=spec,
        tokenizer=TinyTokenizer.Config(),
        optimizer=default_adamw(lr=1e-3),
        lr_scheduler=LRSchedulersContainer.Config(warmup_steps=4, decay_ratio=0.8, decay_type="cosine",
                                                  min_lr_factor=0.1),
        training=TrainingConfig(local_batch_size=4, seq_len=SEQ, steps=20, max_norm=1.0,
                                disable_cuda_graphs=True),
        dataloader=TinyDataLoader.Config(),
        metrics=MetricsProcessor.Config(log_freq=1, enable_tensorboard=True),
        parallelism=ParallelismConfig(),
        checkpoint=CheckpointManager.Config(enable=True, interval=5, last_save_model_only=False),
        debug=DebugConfig(seed=42, deterministic=True, save_config_file="config.json"),
    )
