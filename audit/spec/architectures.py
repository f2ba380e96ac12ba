"""Expected tensor names and shapes for Hugging Face model configs (config.json)."""

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
