"""A LitGPT DataModule over a fixed, seeded tensor of token ids (no download, no tokenizer)."""
import torch
from torch.utils.data import DataLoader
from litgpt.data import DataModule


class CursorLoader(DataLoader):
    """Saves how many batches it has yielded (Fabric stores a loader's state_dict, as litdata's is)."""

    def __iter__(self):
        for batch in super().__iter__():
            self.yielded = getattr(self, "yielded", 0) + 1
            yield batch

    def state_dict(self) -> dict:
        return {"batches_yielded": getattr(self, "yielded", 0)}

    def load_state_dict(self, state: dict) -> None:
        self.yielded = state["batches_yielded"]


class RandomTokens(DataModule):
    def __init__(self, sequences: int = 96, vocab_size: int = 128, seed: int = 0):
        super().__init__()
        self.sequences, self.vocab_size, self.seed = sequences, vocab_size, seed
        self.batch_size, self.max_seq_length = 1, 16

    def connect(self, tokenizer=None, batch_size: int = 1, max_seq_length: int = 16) -> None:
        self.batch_size, self.max_seq_length = batch_size, max_seq_length

    def _data(self, offset: int):
        g = torch.Generator().manual_seed(self.seed + offset)
        return torch.randint(0, self.vocab_size, (self.sequences, self.max_seq_length + 1), generator=g)

    def train_dataloader(self):
        return CursorLoader(self._data(0), batch_size=self.batch_size, shuffle=False)

    def val_dataloader(self):
        return DataLoader(self._data(1)[: self.batch_size * 2], batch_size=self.batch_size, shuffle=False)
