"""Tiny models shared by the Quiet-STaR tests (d_model 32, 2 layers: fast on 2 cores)."""

from __future__ import annotations

import pytest
import torch

from ponder.lm.model import ModelConfig, Transformer
from ponder.quietstar.backbone import NativeBackbone
from ponder.quietstar.model import QuietStar, ThoughtConfig
from ponder.quietstar.tokens import ThoughtCharTokenizer


def tiny_native(seed: int = 0, cfg: ThoughtConfig | None = None) -> QuietStar:
    torch.manual_seed(seed)
    tok = ThoughtCharTokenizer()
    model = Transformer(ModelConfig(vocab_size=tok.text_vocab_size, n_layer=2, n_head=2,
                                    d_model=32, d_ff=64, max_seq_len=128))
    # larger weights than the init's std 0.02, so logits differ visibly between positions
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)
    return QuietStar(NativeBackbone(model, n_logits=tok.text_vocab_size), tok, cfg).eval()


@pytest.fixture
def qs() -> QuietStar:
    return tiny_native()


@pytest.fixture
def text_ids() -> torch.Tensor:
    tok = ThoughtCharTokenizer()
    rows = [tok.encode("What is 3 + 4?\nAnswer: 7", bos=True),
            tok.encode("What is 12 + 9?\nAnswer: 21", bos=True)]
    L = max(map(len, rows))
    return torch.tensor([r + [tok.pad_id] * (L - len(r)) for r in rows])
