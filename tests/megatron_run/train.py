"""A tiny GPT trained for real with megatron-core on CPU, saved in Megatron-LM's legacy ``torch`` layout
(and, given a second directory, in its ``torch_dist`` format by megatron-core's own save).

What is real: megatron-core's own ``GPTModel`` (local layer spec, tensor and pipeline parallel size 1,
gloo), its ``state_dict_for_save_checkpoint()`` keys, its ``OptimizerParamScheduler`` (Megatron's LR
arithmetic, stepped by the global batch in samples as Megatron-LM's training loop does), 12 training
iterations with the loss megatron-core's model computes. What stands in for Megatron-LM (its training
loop, ``megatron/training/``, is not in the megatron-core wheel): the argument ``Namespace`` (the same
names ``megatron/training/arguments.py`` defines, for the options used), ``torch.optim.AdamW`` in two
parameter groups (wd and no-wd, as Megatron groups them) — exactly what Megatron's ``FP32Optimizer``
wraps, whose ``state_dict()`` is the torch optimizer's — the seeded random token batches, and the
save, which writes what ``megatron/training/checkpointing.py`` writes: ``iter_NNNNNNN/mp_rank_00/
model_optim_rng.pt`` = ``{args, checkpoint_version: 3.0, iteration, model, optimizer,
opt_param_scheduler, rng_state: [{random_rng_state, np_rng_state, torch_rng_state,
rng_tracker_states}], num_floating_point_operations_so_far}`` and ``latest_checkpointed_iteration.txt``; and
the training loop's TensorBoard log, written as Megatron-LM writes it (``torch.utils.tensorboard.SummaryWriter``
in ``--tensorboard-dir``, here ``OUT/tensorboard``: every argument as text, then per iteration the scalars of
``training_log`` with its exact tags — ``learning-rate``, ``batch-size``, ``lm loss``, ``loss-scale``,
``grad-norm``, each also ``… vs samples`` — the rate read after the scheduler's step by megatron-core's
``get_canonical_lr_for_logging``).
megatron-core's own optimizer and attention buffers allocate CUDA tensors: the optimizer does not train,
the attention's global memory buffer is allocated on the CPU, and the model-parallel CUDA RNG tracker's
``fork`` is a no-op (dropout is 0: it draws nothing) — the two patches below. No CUDA RNG state exists
on CPU, so ``cuda_rng_state`` is not saved (``rng_tracker_states`` is the tracker's, empty).

With a second directory, every checkpoint is also saved there in Megatron-LM's ``--ckpt-format torch_dist``
(its default since 2024), by megatron-core's own ``dist_checkpointing.save`` as ``save_checkpoint`` calls it
(core_v0.16.1): the state dict of ``generate_state_dict`` with the model's ``sharded_state_dict()``, the
optimizer's — megatron-core's ``FP32Optimizer`` around the same AdamW — ``sharded_state_dict(model's)``, the
rng state as a ``ShardedObject`` sharded by (pp, tp), the default ``torch_dist`` save strategy wrapped in
``FullyParallelSaveStrategyWrapper`` (``--ckpt-fully-parallel-save``, on by default), and the content metadata
of ``_build_sharded_state_dict_metadata`` (no distributed optimizer); ``iter_NNNNNNN/`` then holds
``.metadata``, ``__0_0.distcp``…, ``common.pt`` and ``metadata.json`` as megatron-core wrote them, beside
``latest_checkpointed_iteration.txt``.
``FP32Optimizer.__init__`` puts its loss scale on CUDA: it is built with that one tensor on the CPU (CPU patch
3); its ``state_dict``/``sharded_state_dict`` are megatron-core's. The checkpoint writer calls
``torch.cuda.synchronize()`` after copying the tensors to the host and broadcasts a failure flag on
``torch.cuda.current_device()``: on a CPU-only torch both are stand-ins (CPU patch 4: nothing to synchronize,
the flag on the CPU, gloo), nothing it writes is changed. The writer starts a ``spawn`` multiprocessing
manager, which imports this script again: the run is under ``if __name__ == "__main__"``, as Megatron-LM's
``pretrain_gpt.py`` is. The rerun state machine saves nothing before a rerun is requested (``state_dict``
returns None), as here.

Usage: python train.py OUT_DIR [TORCH_DIST_DIR]
"""

import argparse
import contextlib
import os
import random
import sys

import numpy as np
import torch

OUT = sys.argv[1]
DIST = sys.argv[2] if len(sys.argv) > 2 else None
TRAIN_ITERS, SAVE_INTERVAL = 12, 4
ARGS = argparse.Namespace(
    num_layers=2, hidden_size=32, ffn_hidden_size=64, num_attention_heads=4, num_query_groups=4, kv_channels=8,
    group_query_attention=False, seq_length=16, max_position_embeddings=16, vocab_size=120,
    make_vocab_size_divisible_by=128, padded_vocab_size=128, position_embedding_type="learned_absolute",
    normalization="LayerNorm", swiglu=False, add_bias_linear=True, add_qkv_bias=True,
    untie_embeddings_and_output_weights=False, transformer_impl="local", use_legacy_models=False,
    micro_batch_size=4, global_batch_size=4, data_parallel_size=1, tensor_model_parallel_size=1,
    pipeline_model_parallel_size=1, train_iters=TRAIN_ITERS, save_interval=SAVE_INTERVAL, optimizer="adam",
    lr=1e-3, min_lr=1e-4, lr_decay_style="cosine", lr_warmup_iters=3, lr_decay_iters=TRAIN_ITERS,
    lr_warmup_init=0.0, lr_warmup_fraction=None, weight_decay=0.1, start_weight_decay=0.1, end_weight_decay=0.1,
    weight_decay_incr_style="constant", adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-8, clip_grad=1.0,
    seed=1234, fp16=False, bf16=False, params_dtype=torch.float32, ckpt_format="torch",
    use_distributed_optimizer=False, no_save_optim=False, no_save_rng=False, save=OUT, consumed_train_samples=0,
    iteration=0, tensorboard_dir=os.path.join(OUT, "tensorboard"), tensorboard_log_interval=1,
    tensorboard_queue_size=1000, log_loss_scale_to_tensorboard=True, skipped_train_samples=0,
)
# Values that are not plain in a recent Megatron-LM's args (megatron/training/arguments.py of core_v0.16.1 and
# training.py get_model), set below with megatron-core's own classes once it is imported: the torch dtypes
# validate_args maps (--main-grads-dtype fp32, ...), the AttnBackend an --attention-backend argument (generated
# from TransformerConfig.attention_backend) parses to, the CudaGraphScope list of --cuda-graph-scope attn mlp,
# and the ModelType get_model stores.
ARGS.main_grads_dtype = ARGS.main_params_dtype = ARGS.exp_avg_dtype = ARGS.exp_avg_sq_dtype = torch.float32

import megatron.core.utils as mcore_utils  # noqa: E402
from megatron.core import parallel_state  # noqa: E402
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec  # noqa: E402
from megatron.core.models.gpt.gpt_model import GPTModel  # noqa: E402
from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler, get_canonical_lr_for_logging  # noqa: E402
from megatron.core.tensor_parallel.random import CudaRNGStatesTracker, get_cuda_rng_tracker  # noqa: E402
from megatron.core.enums import ModelType  # noqa: E402
from megatron.core.transformer.enums import AttnBackend, CudaGraphScope  # noqa: E402
from megatron.core.transformer.transformer_config import TransformerConfig  # noqa: E402

ARGS.attention_backend = AttnBackend.auto  # --attention-backend's default
ARGS.cuda_graph_scope = [CudaGraphScope.attn, CudaGraphScope.mlp]  # --cuda-graph-scope attn mlp (graphs: none)
ARGS.cuda_graph_impl = "none"


def _cpu_buffer(self, tensor_shape, dtype, name, mem_alloc_context=None):
    n = int(np.prod(tensor_shape))
    if self.buffer.get((name, dtype)) is None or self.buffer[(name, dtype)].numel() < n:
        self.buffer[(name, dtype)] = torch.empty(n, dtype=dtype, requires_grad=False)
    return self.buffer[(name, dtype)][:n].view(*tensor_shape)


mcore_utils.GlobalMemoryBuffer.get_tensor = _cpu_buffer  # CPU patch 1: its buffer is otherwise CUDA
CudaRNGStatesTracker.fork = lambda self, name=None: contextlib.nullcontext()  # CPU patch 2: no CUDA RNG to fork
if DIST and not torch.cuda.is_available():  # CPU patch 4: the CUDA calls of megatron-core's checkpoint writer
    torch.cuda.synchronize = lambda device=None: None  # after its (CPU → CPU) copy of the tensors to write
    torch.cuda.current_device = lambda: "cpu"  # the device of the one-int failure flag it broadcasts after writing


def save(iteration: int) -> None:
    """megatron/training/checkpointing.py save_checkpoint, ckpt_format 'torch', one rank."""
    ARGS.iteration = iteration
    state = {
        "args": ARGS, "checkpoint_version": 3.0, "iteration": iteration,
        "model": model.state_dict_for_save_checkpoint(), "optimizer": optimizer.state_dict(),
        "opt_param_scheduler": scheduler.state_dict(),
        "rng_state": [{"random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
                       "torch_rng_state": torch.get_rng_state(),
                       "rng_tracker_states": get_cuda_rng_tracker().get_states()}],
        "num_floating_point_operations_so_far": float(6 * sum(p.numel() for p in model.parameters())
                                                      * ARGS.consumed_train_samples * ARGS.seq_length),
    }
    path = os.path.join(OUT, f"iter_{iteration:07d}", "mp_rank_00", "model_optim_rng.pt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(state, path)
    with open(os.path.join(OUT, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write(str(iteration))


def _fp32_optimizer():
    """megatron-core's FP32Optimizer around the AdamW (CPU patch 3: its loss scale tensor on the CPU)."""
    from megatron.core.optimizer import OptimizerConfig
    from megatron.core.optimizer.optimizer import FP32Optimizer, MegatronOptimizer

    cfg = OptimizerConfig(optimizer="adam", lr=ARGS.lr, min_lr=ARGS.min_lr, weight_decay=ARGS.weight_decay,
                          adam_beta1=ARGS.adam_beta1, adam_beta2=ARGS.adam_beta2, adam_eps=ARGS.adam_eps,
                          clip_grad=ARGS.clip_grad, params_dtype=torch.float32)
    wrapped = FP32Optimizer.__new__(FP32Optimizer)
    MegatronOptimizer.__init__(wrapped, optimizer, cfg, lambda opt, config: None)
    wrapped._scale, wrapped.is_stub_optimizer = torch.tensor([1.0]), False
    return wrapped


def save_torch_dist(iteration: int) -> None:
    """megatron/training/checkpointing.py save_checkpoint, ckpt_format 'torch_dist', one rank (core_v0.16.1)."""
    import copy

    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedObject
    from megatron.core.dist_checkpointing.serialization import get_default_save_sharded_strategy
    from megatron.core.dist_checkpointing.strategies.fully_parallel import FullyParallelSaveStrategyWrapper
    from megatron.core.dist_checkpointing.utils import _clean_metadata_for_serialization

    args = copy.copy(ARGS)
    args.ckpt_format, args.use_dist_ckpt, args.save, args.iteration = "torch_dist", True, DIST, iteration
    dp_group = parallel_state.get_data_parallel_group(with_context_parallel=True)
    metadata = {"singleton_local_shards": False, "chained_optim_avoid_prefix": True, "dp_cp_group": dp_group}
    rng = [{"random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
            "torch_rng_state": torch.get_rng_state(), "rng_tracker_states": get_cuda_rng_tracker().get_states()}]
    state = {"args": args, "checkpoint_version": 3.0, "iteration": iteration,
             "model": model.sharded_state_dict(metadata=metadata)}
    state["optimizer"] = _fp32_optimizer().sharded_state_dict(state, metadata=metadata)
    state["opt_param_scheduler"] = scheduler.state_dict()
    state["rng_state"] = ShardedObject("rng_state", rng, (1, 1), (0, 0), replica_id=0)  # (pp, tp) sizes and ranks
    state["num_floating_point_operations_so_far"] = float(6 * sum(p.numel() for p in model.parameters())
                                                          * ARGS.consumed_train_samples * ARGS.seq_length)
    checkpoint_name = os.path.join(DIST, f"iter_{iteration:07d}")
    os.makedirs(checkpoint_name, exist_ok=True)
    strategy = FullyParallelSaveStrategyWrapper(get_default_save_sharded_strategy("torch_dist"), dp_group, False)
    dist_checkpointing.save(state, checkpoint_name, strategy, validate_access_integrity=True,
                            content_metadata=_clean_metadata_for_serialization(metadata))
    with open(os.path.join(DIST, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write(str(iteration))


def training_log(writer, loss: float, learning_rate: float, iteration: int, loss_scale: float, grad_norm: float):
    """The TensorBoard part of megatron/training/training.py training_log (core_v0.16.1), every tag it writes
    for this run's options (no skipped samples, no num-zeros/params-norm/world-size/memory/timers logging)."""
    samples = ARGS.consumed_train_samples
    batch_size = ARGS.micro_batch_size * ARGS.data_parallel_size * (ARGS.global_batch_size // ARGS.micro_batch_size)
    if iteration % ARGS.tensorboard_log_interval == 0:
        writer.add_scalar("learning-rate", learning_rate, iteration)
        writer.add_scalar("learning-rate vs samples", learning_rate, samples)
        writer.add_scalar("batch-size", batch_size, iteration)
        writer.add_scalar("batch-size vs samples", batch_size, samples)
        for key, value in {"lm loss": loss}.items():  # pretrain_gpt.py loss_func's loss_dict
            writer.add_scalar(key, value, iteration)
            writer.add_scalar(key + " vs samples", value, samples)
        if ARGS.log_loss_scale_to_tensorboard:
            writer.add_scalar("loss-scale", loss_scale, iteration)
            writer.add_scalar("loss-scale vs samples", loss_scale, samples)
        writer.add_scalar("grad-norm", grad_norm, iteration)
        writer.add_scalar("grad-norm vs samples", grad_norm, samples)


def main() -> None:
    """The run: guarded, as Megatron-LM's pretrain_gpt.py is, since megatron-core's checkpoint writer starts a
    ``spawn`` multiprocessing manager, which imports this script again."""
    global model, optimizer, scheduler
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)
    parallel_state.initialize_model_parallel(1, 1)
    random.seed(ARGS.seed)
    np.random.seed(ARGS.seed)
    torch.manual_seed(ARGS.seed)
    config = TransformerConfig(num_layers=ARGS.num_layers, hidden_size=ARGS.hidden_size,
                               num_attention_heads=ARGS.num_attention_heads, ffn_hidden_size=ARGS.ffn_hidden_size,
                               use_cpu_initialization=True, pipeline_dtype=torch.float32, hidden_dropout=0.0,
                               attention_dropout=0.0)
    model = GPTModel(config=config, transformer_layer_spec=get_gpt_layer_local_spec(),
                     vocab_size=ARGS.padded_vocab_size, max_sequence_length=ARGS.max_position_embeddings,
                     share_embeddings_and_output_weights=not ARGS.untie_embeddings_and_output_weights)
    ARGS.model_type = ModelType.encoder_or_decoder  # megatron/training/training.py get_model sets args.model_type
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "layernorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "layernorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "wd_mult": 1.0, "default_config": True},
                                   {"params": no_decay, "wd_mult": 0.0, "default_config": True}],
                                  lr=ARGS.lr, betas=(ARGS.adam_beta1, ARGS.adam_beta2), eps=ARGS.adam_eps,
                                  weight_decay=ARGS.weight_decay)
    gbs = ARGS.global_batch_size
    scheduler = OptimizerParamScheduler(  # megatron/training/training.py get_optimizer_param_scheduler (train_iters)
        optimizer, init_lr=ARGS.lr_warmup_init, max_lr=ARGS.lr, min_lr=ARGS.min_lr,
        lr_warmup_steps=ARGS.lr_warmup_iters * gbs, lr_decay_steps=ARGS.lr_decay_iters * gbs,
        lr_decay_style=ARGS.lr_decay_style, start_wd=ARGS.start_weight_decay, end_wd=ARGS.end_weight_decay,
        wd_incr_steps=ARGS.train_iters * gbs, wd_incr_style=ARGS.weight_decay_incr_style)
    data = torch.randint(0, ARGS.vocab_size, (TRAIN_ITERS * gbs, ARGS.seq_length + 1),
                         generator=torch.Generator().manual_seed(0))
    position_ids = torch.arange(ARGS.seq_length).unsqueeze(0).expand(gbs, -1)
    causal = torch.ones(1, 1, ARGS.seq_length, ARGS.seq_length, dtype=torch.bool).triu(1)  # True: masked out

    from torch.utils.tensorboard import SummaryWriter

    # megatron/training/global_vars.py _set_tensorboard_writer, then initialize.py write_args_to_tensorboard.
    writer = SummaryWriter(log_dir=ARGS.tensorboard_dir, max_queue=ARGS.tensorboard_queue_size)
    for arg in vars(ARGS):
        writer.add_text(arg, str(getattr(ARGS, arg)), global_step=ARGS.iteration)
    for iteration in range(1, TRAIN_ITERS + 1):
        batch = data[(iteration - 1) * gbs: iteration * gbs]
        loss = model(batch[:, :-1], position_ids, causal, labels=batch[:, 1:]).float().mean()
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), ARGS.clip_grad)
        optimizer.step()
        scheduler.step(increment=gbs)
        ARGS.consumed_train_samples += gbs
        lr = get_canonical_lr_for_logging(optimizer.param_groups)  # after the scheduler's step, as train() reads it
        training_log(writer, loss.item(), lr, iteration, 1.0, grad_norm.item())  # FP32Optimizer's loss scale is 1.0
        print(f" iteration {iteration:8d}/{TRAIN_ITERS:8d} | consumed samples: {ARGS.consumed_train_samples:8d} | "
              f"learning rate: {lr:.6E} | lm loss: {loss.item():.6E} | grad norm: {grad_norm.item():.3f} |", flush=True)
        if iteration % SAVE_INTERVAL == 0:
            save(iteration)
            if DIST:
                save_torch_dist(iteration)
    writer.close()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
