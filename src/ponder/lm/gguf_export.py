"""Export a ponder checkpoint as one GGUF file, the format of llama.cpp and the tools
built on it (llama-cpp-python, Ollama, LM Studio).

llama.cpp's own converter (``convert_hf_to_gguf.py``) rejects ponder's character
tokenizer, so the file is written here directly with the ``gguf`` package:

- architecture ``llama``: ponder's model is a Llama (RMSNorm, rotary embeddings, SwiGLU,
  no biases); its hyper-parameters become the ``llama.*`` keys;
- weights in float32 under llama.cpp's tensor names. llama.cpp rotates adjacent pairs of
  a head's dimensions, Hugging Face's Llama (and ponder) the two halves, so the rows of
  the query and key projections are reordered exactly as llama.cpp's converter does;
  the tied output matrix is written out as ``output.weight``;
- the tokenizer as a SentencePiece-style vocabulary (``tokenizer.ggml.model = llama``)
  of single characters with no merges, the space written as U+2581 as SentencePiece
  does, no space prefix; ``<bos>``/``<eos>``/``<pad>`` are control tokens and
  ``<think>``/``</think>`` user-defined ones, which llama.cpp always matches in text
  and always prints, so a chain of thought reads as ponder's own.

llama.cpp then encodes and decodes text as ponder does and its greedy continuation equals
ponder's (``benchmarks/vs_llama_cpp.py`` checks both); transformers also loads the file
(``gguf_file=``), which the tests use to compare logits.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ponder.errors import InvalidInput, ModelError
from ponder.files import staged_file
from ponder.lm.checkpoint import load_checkpoint, require_llama
from ponder.lm.model import ModelConfig
from ponder.lm.tokenizer import BOS, EOS, PAD, SPECIALS, CharTokenizer

__all__ = ["export_gguf", "gguf_tokens", "rotate_pairs"]

SPACE = "\u2581"  # SentencePiece's visible space

# ponder (Llama) parameter name -> llama.cpp tensor name; {i} is the layer
NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "model.layers.{i}.input_layernorm.weight": "blk.{i}.attn_norm.weight",
    "model.layers.{i}.self_attn.q_proj.weight": "blk.{i}.attn_q.weight",
    "model.layers.{i}.self_attn.k_proj.weight": "blk.{i}.attn_k.weight",
    "model.layers.{i}.self_attn.v_proj.weight": "blk.{i}.attn_v.weight",
    "model.layers.{i}.self_attn.o_proj.weight": "blk.{i}.attn_output.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "blk.{i}.ffn_norm.weight",
    "model.layers.{i}.mlp.gate_proj.weight": "blk.{i}.ffn_gate.weight",
    "model.layers.{i}.mlp.up_proj.weight": "blk.{i}.ffn_up.weight",
    "model.layers.{i}.mlp.down_proj.weight": "blk.{i}.ffn_down.weight",
}


def rotate_pairs(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Reorder the output rows of a query/key projection from the rotate-half layout
    (dimension j pairs with j + hs/2) to llama.cpp's adjacent pairs (2j with 2j + 1)."""
    rows = w.shape[0]
    hs = rows // n_head
    return w.reshape(n_head, 2, hs // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def gguf_tokens(tok: CharTokenizer) -> tuple[list[str], list[int]]:
    """The vocabulary as llama.cpp's SentencePiece tokenizer reads it: token texts (in
    id order) and token types."""
    from gguf import TokenType

    texts, types = [], []
    for piece in tok.itos:
        if piece in (PAD, BOS, EOS):
            types.append(TokenType.CONTROL)
        elif piece in SPECIALS:
            types.append(TokenType.USER_DEFINED)
        else:
            types.append(TokenType.NORMAL)
        texts.append(SPACE if piece == " " else piece)
    return texts, [int(t) for t in types]


def _tensors(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for layer_name, gguf_name in NAMES.items():
        for i in range(cfg.n_layer) if "{i}" in layer_name else [None]:
            src = layer_name.format(i=i)
            if src not in state:
                raise ModelError(f"the checkpoint has no tensor {src!r}")
            w = state[src].detach().float().contiguous()
            if src.endswith("q_proj.weight"):
                w = rotate_pairs(w, cfg.n_head)
            elif src.endswith("k_proj.weight"):
                w = rotate_pairs(w, cfg.kv_heads)
            out[gguf_name.format(i=i)] = w
    out["output.weight"] = out["token_embd.weight"]  # tied, written out for every reader
    return out


def export_gguf(ckpt_dir: str | Path, out_file: str | Path) -> Path:
    """Write the checkpoint at ``ckpt_dir`` as the GGUF file ``out_file`` (float32,
    replaced atomically if it exists) and return its path."""
    try:
        import gguf
    except ImportError:
        raise ModelError("writing GGUF needs the gguf package: pip install 'ponder[gguf]'"
                         ) from None

    ckpt, out = Path(ckpt_dir).expanduser(), Path(out_file).expanduser()
    if out.suffix != ".gguf":
        raise InvalidInput(f"GGUF output {out} should end in .gguf")
    if out.is_dir():
        raise InvalidInput(f"GGUF output {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise InvalidInput(f"directory {out.parent} does not exist")
    if not ckpt.is_dir():
        raise ModelError(f"checkpoint directory {ckpt} does not exist")
    model, tok, _ = load_checkpoint(ckpt)
    require_llama(model.cfg, "llama.cpp")
    cfg = model.cfg
    arch = "llama"
    with staged_file(out) as tmp:
        w = gguf.GGUFWriter(str(tmp), arch)
        w.add_name(ckpt.resolve().name)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_context_length(cfg.max_seq_len)
        w.add_embedding_length(cfg.d_model)
        w.add_block_count(cfg.n_layer)
        w.add_feed_forward_length(cfg.d_ff)
        w.add_head_count(cfg.n_head)
        w.add_head_count_kv(cfg.kv_heads)
        w.add_rope_dimension_count(cfg.head_dim)
        w.add_rope_freq_base(cfg.rope_theta)
        if cfg.position_scale != 1.0:  # llama.cpp multiplies positions by 1/factor
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(cfg.rope_scaling_factor)
        w.add_layer_norm_rms_eps(cfg.norm_eps)
        w.add_vocab_size(cfg.vocab_size)
        texts, types = gguf_tokens(tok)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(texts)
        w.add_token_scores([0.0] * len(texts))
        w.add_token_types(types)
        w.add_bos_token_id(tok.bos_id)
        w.add_eos_token_id(tok.eos_id)
        w.add_pad_token_id(tok.pad_id)
        w.add_unk_token_id(tok.pad_id)  # every printable character has its own token
        w.add_add_bos_token(True)  # ponder's prompts start with <bos>
        w.add_add_eos_token(False)
        w.add_add_space_prefix(False)
        for name, t in _tensors(model.state_dict(), cfg).items():
            w.add_tensor(name, t.numpy())
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return out
