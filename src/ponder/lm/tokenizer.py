"""Character-level tokenizer: every printable ASCII character (so every digit) is its
own token, plus a few special tokens. Saved as a Hugging Face ``tokenizer.json`` that
``transformers.PreTrainedTokenizerFast`` loads and that encodes/decodes identically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ponder.errors import InvalidInput
from ponder.lm.template import THINK_CLOSE, THINK_OPEN

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS, THINK_OPEN, THINK_CLOSE)
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # newline + printable ASCII


class CharTokenizer:
    """Specials first (ids 0..4), then the characters in ``CHARS`` order."""

    def __init__(self) -> None:
        self.itos: list[str] = [*SPECIALS, *CHARS]
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = (self.stoi[s] for s in (PAD, BOS, EOS))
        self.think_open_id = self.stoi[THINK_OPEN]
        self.think_close_id = self.stoi[THINK_CLOSE]
        self._special_re = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def unknown_chars(self, text: str) -> list[str]:
        plain = self._special_re.sub("", text)
        return sorted({c for c in plain if c not in self.stoi})

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; special-token strings map to their single ids."""
        bad = self.unknown_chars(text)
        if bad:
            raise InvalidInput(
                "text contains characters outside the model's vocabulary: "
                + ", ".join(repr(c) for c in bad[:10])
                + " (the built-in tokenizer covers printable ASCII and newlines)"
            )
        ids = [self.bos_id] if bos else []
        for part in self._special_re.split(text):
            if part in self.stoi and part in SPECIALS:
                ids.append(self.stoi[part])
            else:
                ids.extend(self.stoi[c] for c in part)
        if eos:
            ids.append(self.eos_id)
        return ids

    def token_ends(self, text: str) -> list[int]:
        """For each token of ``encode(text)``, the index of its last character in
        ``text`` (a special token such as ``</think>`` spans several characters)."""
        ends, pos = [], 0
        for part in self._special_re.split(text):
            if part in SPECIALS:
                pos += len(part)
                ends.append(pos - 1)
            else:
                ends.extend(range(pos, pos + len(part)))
                pos += len(part)
        return ends

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        out = []
        for i in ids:
            tok = self.itos[i]
            if skip_special and tok in (PAD, BOS, EOS):
                continue
            out.append(tok)
        return "".join(out)

    # -- Hugging Face files -------------------------------------------------------
    def to_hf_json(self) -> str:
        """The ``tokenizer.json`` text: a WordLevel model over single characters, one
        token per character (regex split), specials as added tokens, a Fuse decoder."""
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

        tok = Tokenizer(models.WordLevel(vocab=dict(self.stoi), unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()
        tok.add_special_tokens(list(SPECIALS))
        # ponder's models see <bos> before every prompt: with special tokens on (the
        # transformers default) the exported tokenizer adds it too, so HF backends agree
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, self.bos_id)])
        return tok.to_str()

    def save(self, directory: str | Path) -> None:
        """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "tokenizer.json").write_text(self.to_hf_json())
        special = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD,
                   "additional_special_tokens": [THINK_OPEN, THINK_CLOSE]}
        (d / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
        config = {**special, "tokenizer_class": "PreTrainedTokenizerFast",
                  "clean_up_tokenization_spaces": False, "model_max_length": 1_000_000,
                  "add_bos_token": False, "add_eos_token": False}
        (d / "tokenizer_config.json").write_text(json.dumps(config, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> CharTokenizer:
        """Load from a checkpoint directory, checking the vocabulary is the one we know."""
        path = Path(directory) / "tokenizer.json"
        if not path.exists():
            raise InvalidInput(f"no tokenizer.json in {directory}")
        try:
            vocab = json.loads(path.read_text())["model"]["vocab"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InvalidInput(f"{path} is not a tokenizer.json ({type(e).__name__}: {e})"
                               ) from None
        tok = cls()
        if vocab != tok.stoi:
            raise InvalidInput(f"{path} is not ponder's character tokenizer")
        return tok
