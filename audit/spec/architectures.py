"""Expected tensor names and shapes for Hugging Face model configs (config.json), LitGPT's model_config.yaml
and Megatron-LM's arguments (the ``args`` of a model_optim_rng.pt), and torchtitan's saved job config
(``--debug.save_config_file``: its ``model_spec.model``)."""

from __future__ import annotations

LLAMA_LIKE = {"LlamaForCausalLM", "MistralForCausalLM"}

TORCH_DTYPE_TO_SAFETENSORS = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}


class UnsupportedArchitecture(ValueError):
    pass


def _int(cfg: dict, key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if type(value) is not int or value <= 0:
        raise ValueError(f"config.json: {key} must be a positive integer, got {value!r}")
    return value


def expected_tensors(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape that a checkpoint of this config holds (weights only)."""
    if is_litgpt_config(cfg):
        return expected_litgpt_tensors(cfg)
    if is_megatron_args(cfg):
        return expected_megatron_tensors(cfg)
    if is_torchtitan_config(cfg):
        return expected_torchtitan_tensors(cfg)
    archs = cfg.get("architectures") or []
    if not (isinstance(archs, list) and archs and archs[0] in LLAMA_LIKE):
        raise UnsupportedArchitecture(f"architecture {archs!r} is not one the auditor knows the tensors of")
    vocab = _int(cfg, "vocab_size")
    hidden = _int(cfg, "hidden_size")
    inter = _int(cfg, "intermediate_size")
    layers = _int(cfg, "num_hidden_layers")
    heads = _int(cfg, "num_attention_heads")
    kv_heads = _int(cfg, "num_key_value_heads", heads)
    head_dim = cfg.get("head_dim") or hidden // heads
    if type(head_dim) is not int or head_dim <= 0:
        raise ValueError(f"config.json: head_dim must be a positive integer, got {head_dim!r}")
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        shapes |= llama_block(f"model.layers.{i}.", HF_LLAMA_NAMES, hidden, inter, heads, kv_heads, head_dim)
    shapes["model.norm.weight"] = (hidden,)
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


#: A LLaMA block's tensors in the order llama_block takes them: q, k, v, o, gate, up, down, the two norms.
HF_LLAMA_NAMES = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                  "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                  "input_layernorm.weight", "post_attention_layernorm.weight")  # fmt: skip
TORCHTITAN_LLAMA_NAMES = ("attention.qkv_linear.wq.weight", "attention.qkv_linear.wk.weight",
                          "attention.qkv_linear.wv.weight", "attention.wo.weight", "feed_forward.w1.weight",
                          "feed_forward.w3.weight", "feed_forward.w2.weight", "attention_norm.weight",
                          "ffn_norm.weight")  # fmt: skip


def llama_block(prefix: str, names: tuple[str, ...], hidden: int, inter: int, heads: int, kv_heads: int,
                head_dim: int) -> dict[str, tuple[int, ...]]:
    """The tensors of one LLaMA block (no biases) under ``prefix``, named by ``names`` (see HF_LLAMA_NAMES)."""
    q, k, v, o, gate, up, down, norm_1, norm_2 = (prefix + n for n in names)
    return {q: (heads * head_dim, hidden), k: (kv_heads * head_dim, hidden), v: (kv_heads * head_dim, hidden),
            o: (hidden, heads * head_dim), gate: (inter, hidden), up: (inter, hidden), down: (hidden, inter),
            norm_1: (hidden,), norm_2: (hidden,)}  # fmt: skip


def is_litgpt_config(cfg: dict) -> bool:
    """A LitGPT model_config.yaml (``litgpt.Config``), rather than a Hugging Face config.json."""
    return "n_layer" in cfg and "n_embd" in cfg and "mlp_class_name" in cfg


def expected_litgpt_tensors(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape of a LitGPT ``GPT`` state dict (litgpt 0.5.x names: ``transformer.h.N.attn.qkv``),
    for the LLaMA-style blocks (LLaMAMLP, RMSNorm, no biases, no extra norms)."""
    if cfg.get("mlp_class_name") != "LLaMAMLP" or cfg.get("norm_class_name") != "RMSNorm" or cfg.get("bias") \
            or cfg.get("attn_bias") or cfg.get("n_expert") or cfg.get("norm_qk") or cfg.get("post_attention_norm") \
            or cfg.get("post_mlp_norm") or cfg.get("lm_head_bias") or cfg.get("latent_attention"):  # fmt: skip
        raise UnsupportedArchitecture(f"LitGPT {cfg.get('mlp_class_name')}/{cfg.get('norm_class_name')} blocks with "
                                      "these options are not ones the auditor knows the tensors of")  # fmt: skip
    vocab = _int(cfg, "padded_vocab_size", cfg.get("vocab_size"))
    hidden = _int(cfg, "n_embd")
    inter = _int(cfg, "intermediate_size")
    layers = _int(cfg, "n_layer")
    heads = _int(cfg, "n_head")
    groups = _int(cfg, "n_query_groups", heads)
    head = _int(cfg, "head_size", hidden // heads)
    shapes: dict[str, tuple[int, ...]] = {"lm_head.weight": (vocab, hidden), "transformer.wte.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        shapes |= {
            p + "norm_1.weight": (hidden,),
            p + "attn.qkv.weight": ((heads + 2 * groups) * head, hidden),
            p + "attn.proj.weight": (hidden, heads * head),
            p + "norm_2.weight": (hidden,),
            p + "mlp.fc_1.weight": (inter, hidden),
            p + "mlp.fc_2.weight": (inter, hidden),
            p + "mlp.proj.weight": (hidden, inter),
        }
    shapes["transformer.ln_f.weight"] = (hidden,)
    return shapes


def is_megatron_args(cfg: dict) -> bool:
    """Megatron-LM's arguments (``--num-layers``, ``--hidden-size``, …), not a config.json."""
    return "num_layers" in cfg and "hidden_size" in cfg and "padded_vocab_size" in cfg


def expected_megatron_tensors(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape of megatron-core's ``GPTModel`` state dict on one model-parallel rank, for its
    local and Transformer Engine layer specs (dense MLP, no QK norm); ``_extra_state`` entries left out. A
    ``torch_dist`` checkpoint (``ckpt_format``) names the layer norms as Transformer Engine's fused ones whatever
    the spec (the local spec's ``sharded_state_dict_keys_map``)."""
    ranks = (cfg.get("tensor_model_parallel_size") or 1) * (cfg.get("pipeline_model_parallel_size") or 1)
    impl = cfg.get("transformer_impl")
    if cfg.get("use_legacy_models") or ranks != 1 or cfg.get("num_experts") or cfg.get("qk_layernorm") \
            or cfg.get("multi_latent_attention") or impl not in ("local", "transformer_engine"):  # fmt: skip
        raise UnsupportedArchitecture("Megatron model with these arguments (legacy model, model-parallel ranks, "
                                      "experts, QK norm or MLA) is not one the auditor knows the tensors of")  # fmt: skip
    vocab, hidden = _int(cfg, "padded_vocab_size"), _int(cfg, "hidden_size")
    layers, heads = _int(cfg, "num_layers"), _int(cfg, "num_attention_heads")
    ffn = _int(cfg, "ffn_hidden_size", 4 * hidden)
    kv = _int(cfg, "kv_channels", hidden // heads)
    groups = _int(cfg, "num_query_groups", heads) if cfg.get("group_query_attention") else heads
    norms = ("weight", "bias") if cfg.get("normalization", "LayerNorm") == "LayerNorm" else ("weight",)
    bias = bool(cfg.get("add_bias_linear", True))
    te = impl == "transformer_engine" or cfg.get("ckpt_format") == "torch_dist"
    shapes: dict[str, tuple[int, ...]] = {"embedding.word_embeddings.weight": (vocab, hidden)}
    if cfg.get("position_embedding_type", "learned_absolute") == "learned_absolute":
        shapes["embedding.position_embeddings.weight"] = (_int(cfg, "max_position_embeddings"), hidden)

    def linear(name: str, out: int, inp: int, with_bias: bool) -> dict[str, tuple[int, ...]]:
        return {f"{name}.weight": (out, inp)} | ({f"{name}.bias": (out,)} if with_bias else {})

    for i in range(layers):
        p = f"decoder.layers.{i}."
        attn_norm = p + ("self_attention.linear_qkv.layer_norm_" if te else "input_layernorm.")
        mlp_norm = p + ("mlp.linear_fc1.layer_norm_" if te else "pre_mlp_layernorm.")
        shapes |= {f"{attn_norm}{k}": (hidden,) for k in norms} | {f"{mlp_norm}{k}": (hidden,) for k in norms}
        shapes |= linear(p + "self_attention.linear_qkv", (heads + 2 * groups) * kv, hidden,
                         bias or bool(cfg.get("add_qkv_bias")))  # fmt: skip
        shapes |= linear(p + "self_attention.linear_proj", hidden, heads * kv, bias)
        shapes |= linear(p + "mlp.linear_fc1", ffn * (2 if cfg.get("swiglu") else 1), hidden, bias)
        shapes |= linear(p + "mlp.linear_fc2", hidden, ffn, bias)
    shapes |= {f"decoder.final_layernorm.{k}": (hidden,) for k in norms}
    if cfg.get("untie_embeddings_and_output_weights"):
        shapes["output_layer.weight"] = (vocab, hidden)
    return shapes


def is_torchtitan_config(cfg: dict) -> bool:
    """torchtitan's job config as ``Trainer.Config.to_dict()`` saves it (``model_spec`` with the model's config)."""
    spec = cfg.get("model_spec")
    return isinstance(spec, dict) and isinstance(spec.get("model"), dict) and "lr_scheduler" in cfg


def torchtitan_architecture(cfg: dict) -> str:
    spec = cfg["model_spec"]
    return f"torchtitan {spec.get('name')} ({spec.get('flavor')})"


def expected_torchtitan_tensors(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape of a torchtitan Llama 3 state dict as its checkpointer saves it (0.3.0 names:
    ``layers.N.attention.qkv_linear.wq`` … unfused, though the model trains one fused ``wqkv``), read from the
    module configs themselves (dense blocks, no biases, no MoE, no QK norm)."""
    spec = cfg["model_spec"]
    model = spec["model"]
    if spec.get("name") != "llama3":
        raise UnsupportedArchitecture(f"torchtitan model {spec.get('name')!r} is not one the auditor knows the tensors of")
    dim, vocab = _int(model, "dim"), _int(model, "vocab_size")
    layers = model.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("torchtitan config: model_spec.model.layers is not a list of layer configs")
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (vocab, dim)}
    for i, layer in enumerate(layers):
        att, ffn = (layer or {}).get("attention") or {}, (layer or {}).get("feed_forward") or {}
        qkv = att.get("qkv_linear") or {}
        if (layer or {}).get("moe") or att.get("qk_norm") or not isinstance(qkv, dict) or not isinstance(ffn, dict):
            raise UnsupportedArchitecture(f"torchtitan layer {i}: MoE, QK norm or another attention is not known")
        heads, head_dim = _int(qkv, "n_heads"), _int(qkv, "head_dim")
        kv = _int(qkv, "n_kv_heads", heads)
        hidden = _int(ffn.get("w1") or {}, "out_features")
        shapes |= llama_block(f"layers.{i}.", TORCHTITAN_LLAMA_NAMES, dim, hidden, heads, kv, head_dim)
    shapes["norm.weight"] = (dim,)
    if not model.get("enable_weight_tying"):
        shapes["lm_head.weight"] = (vocab, dim)
    return shapes
