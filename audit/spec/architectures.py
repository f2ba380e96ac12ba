"""Expected tensor names and shapes for Hugging Face model configs (config.json), LitGPT's model_config.yaml
and Megatron-LM's arguments (the ``args`` of a model_optim_rng.pt)."""

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
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (heads * head_dim, hidden),
            p + "self_attn.k_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.v_proj.weight": (kv_heads * head_dim, hidden),
            p + "self_attn.o_proj.weight": (hidden, heads * head_dim),
            p + "mlp.gate_proj.weight": (inter, hidden),
            p + "mlp.up_proj.weight": (inter, hidden),
            p + "mlp.down_proj.weight": (hidden, inter),
            p + "input_layernorm.weight": (hidden,),
            p + "post_attention_layernorm.weight": (hidden,),
        }
    shapes["model.norm.weight"] = (hidden,)
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


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
    local and Transformer Engine layer specs (dense MLP, no QK norm); ``_extra_state`` entries left out."""
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
    te = impl == "transformer_engine"
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
