"""A plain-PyTorch training script with dropout, used as a release's own code in command-mode tests.

Full run:   python train.py --data DATA.jsonl --steps N --save-every K --release DIR
Resume:     python train.py --resume CKPT --data DATA.jsonl --steps N --out DIR
Checkpoints: model.safetensors, optimizer.safetensors (exp_avg.<p>, exp_avg_sq.<p>), training_state.json.
"""

import argparse
import json
import os
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

VOCAB, DIM, BATCH, LR = 64, 16, 4, 0.01
RESTORE_RNG = True  # the flawed variant of this script sets it to False


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, ids):
        return self.head(self.drop(self.embed(ids)))


def setup():
    random.seed(0)
    torch.manual_seed(0)
    model = TinyLM()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0,
                            foreach=False)
    return model, opt


def save(model, opt, step, out):
    os.makedirs(out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, "model.safetensors"))
    moments = {}
    for name, p in model.named_parameters():
        st = opt.state.get(p) or {}
        moments["exp_avg." + name] = st.get("exp_avg", torch.zeros_like(p)).contiguous()
        moments["exp_avg_sq." + name] = st.get("exp_avg_sq", torch.zeros_like(p)).contiguous()
    save_file(moments, os.path.join(out, "optimizer.safetensors"))
    state = {"step": step, "optimizer": {"step": step}, "scheduler": {"last_step": step},
             "data_cursor": {"sequences_consumed": step * BATCH},
             "rng": {"torch_cpu": torch.get_rng_state().tolist(), "python": list(random.getstate()[1]),
                     "numpy": "unused"}}
    with open(os.path.join(out, "training_state.json"), "w") as f:
        json.dump(state, f, sort_keys=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["TinyLM"], "vocab_size": VOCAB, "hidden_size": DIM}, f, sort_keys=True)


def load(model, opt, ckpt):
    model.load_state_dict(load_file(os.path.join(ckpt, "model.safetensors")))
    with open(os.path.join(ckpt, "training_state.json")) as f:
        state = json.load(f)
    moments = load_file(os.path.join(ckpt, "optimizer.safetensors"))
    if state["step"] > 0:
        for name, p in model.named_parameters():
            opt.state[p] = {"step": torch.tensor(float(state["step"])), "exp_avg": moments["exp_avg." + name],
                            "exp_avg_sq": moments["exp_avg_sq." + name]}
    if RESTORE_RNG:
        torch.set_rng_state(torch.tensor(state["rng"]["torch_cpu"], dtype=torch.uint8))
    return state["step"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--resume")
    ap.add_argument("--out")
    ap.add_argument("--release")
    ap.add_argument("--save-every", type=int, default=0)
    a = ap.parse_args()
    if "HF_TOKEN" in os.environ or "AWS_SECRET_ACCESS_KEY" in os.environ:
        sys.exit("secrets leaked into the replay environment")
    with open(a.data) as f:
        rows = [json.loads(line)["token_ids"] for line in f if line.strip()]
    model, opt = setup()
    step = load(model, opt, a.resume) if a.resume else 0
    if a.release:
        save(model, opt, 0, os.path.join(a.release, "checkpoints", "step_000000"))
    log = []
    for i in range(a.steps):
        batch = torch.tensor(rows[i * BATCH:(i + 1) * BATCH])
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"), foreach=False)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        log.append({"step": step, "loss": loss.item(), "learning_rate": LR, "grad_norm": norm.item()})
        if a.release and a.save_every and step % a.save_every == 0:
            save(model, opt, step, os.path.join(a.release, "checkpoints", "step_%06d" % step))
    log_path = os.path.join(a.release, "logs", "train_log.jsonl") if a.release else os.path.join(a.out, "train_log.jsonl")
    if a.out:
        save(model, opt, step, a.out)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in log)


if __name__ == "__main__":
    main()
