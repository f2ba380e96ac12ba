"""The fixture's data, inside the release: ``python tinydata.py DIR`` writes seeded token ids as a litdata
optimized dataset (``litdata.optimize`` with TokensLoader: ``DIR/index.json`` + ``DIR/chunk-0-N.bin``, one
chunk per 6 steps of 4 sequences of 17 token ids), and ``LitTokens`` is the LitGPT DataModule that trains on
it: litdata's ``StreamingDataset`` with ``TokensLoader(block_size=max_seq_length + 1)``, unshuffled, in the
main process, so step s takes blocks (s - 1) × 4 … s × 4 - 1 of the chunks in the index's order."""
from __future__ import annotations

import sys

import torch
from litgpt.data import DataModule

CHUNKS, SEQUENCES_PER_CHUNK, LENGTH, VOCAB = 5, 24, 17, 128


def sequences(chunk: int):
    g = torch.Generator().manual_seed(1000 + chunk)
    for _ in range(SEQUENCES_PER_CHUNK):
        yield torch.randint(0, VOCAB, (LENGTH,), generator=g, dtype=torch.int64)


def make(out_dir: str) -> None:
    from litdata import TokensLoader, optimize

    optimize(fn=sequences, inputs=list(range(CHUNKS)), output_dir=out_dir, chunk_size=SEQUENCES_PER_CHUNK * LENGTH,
             item_loader=TokensLoader(), num_workers=1, mode="overwrite", start_method="fork")


class LitTokens(DataModule):
    def __init__(self, data_path: str = "data", shuffle: bool = False):
        super().__init__()
        self.data_path, self.shuffle = data_path, shuffle
        self.batch_size, self.seq_length = 1, LENGTH

    def connect(self, tokenizer=None, batch_size: int = 1, max_seq_length: int = 16) -> None:
        self.batch_size, self.seq_length = batch_size, max_seq_length + 1

    def _loader(self, shuffle: bool):
        from litdata.streaming import StreamingDataLoader, StreamingDataset, TokensLoader

        dataset = StreamingDataset(input_dir=str(self.data_path), item_loader=TokensLoader(block_size=self.seq_length),
                                   shuffle=shuffle)
        return StreamingDataLoader(dataset, batch_size=self.batch_size, num_workers=0, drop_last=True)

    def train_dataloader(self):
        return self._loader(self.shuffle)

    def val_dataloader(self):
        return self._loader(False)


if __name__ == "__main__":
    make(sys.argv[1])
