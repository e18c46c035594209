import pytest
from transformers import PreTrainedTokenizerFast

from ponder.errors import InvalidInput
from ponder.lm.template import THINK_CLOSE, THINK_OPEN
from ponder.lm.tokenizer import BOS, EOS, PAD, CharTokenizer

TEXTS = [
    "",
    "Sum 3 4 2",
    "line one\nline two\n\n  indented\n",
    f"What is 12*7?\n{THINK_OPEN}\ns=84\n{THINK_CLOSE}\nAnswer: 84",
    f"{BOS}a{EOS}{PAD}{THINK_OPEN}{THINK_CLOSE}",
    "<thin> <think <</think>> nested markers",
    "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./ 0123456789",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tok = CharTokenizer()
    d = tmp_path_factory.mktemp("tok")
    tok.save(d)
    return tok, PreTrainedTokenizerFast.from_pretrained(str(d))


@pytest.mark.parametrize("text", TEXTS)
def test_hf_tokenizer_matches_char_tokenizer(pair, text):
    tok, hf = pair
    ids = tok.encode(text)
    assert hf.encode(text, add_special_tokens=False) == ids
    assert hf(text)["input_ids"] == [tok.bos_id, *ids]  # <bos> added, as ponder does
    assert hf.decode(ids, skip_special_tokens=False,
                     clean_up_tokenization_spaces=False) == tok.decode(ids) == text


def test_specials_are_single_tokens(pair):
    tok, hf = pair
    ids = tok.encode(f"x{THINK_OPEN}y{THINK_CLOSE}")
    assert ids == [tok.stoi["x"], tok.think_open_id, tok.stoi["y"], tok.think_close_id]
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id) == (tok.bos_id, tok.eos_id,
                                                                   tok.pad_id)
    assert tok.encode("a", bos=True, eos=True) == [tok.bos_id, tok.stoi["a"], tok.eos_id]
    assert tok.decode([tok.bos_id, tok.stoi["a"], tok.eos_id], skip_special=True) == "a"


def test_every_character_round_trips():
    tok = CharTokenizer()
    text = "".join(tok.itos[5:])
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) == len(text)


@pytest.mark.parametrize("bad", ["tab\there", "café", "emoji 🙂", "x\ry"])
def test_unknown_characters_raise_invalid_input_naming_them(bad):
    tok = CharTokenizer()
    with pytest.raises(InvalidInput) as e:
        tok.encode(bad)
    odd = next(c for c in bad if c not in tok.stoi)
    assert repr(odd) in str(e.value)


def test_load_rejects_foreign_tokenizer(tmp_path):
    with pytest.raises(InvalidInput, match="no tokenizer.json"):
        CharTokenizer.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    with pytest.raises(InvalidInput, match="not ponder's character tokenizer"):
        CharTokenizer.load(tmp_path)


def test_exported_tokenizer_adds_bos_like_ponder_prompts(tmp_path):
    from transformers import PreTrainedTokenizerFast

    tok = CharTokenizer()
    tok.save(tmp_path)
    hf = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    text = "What is 2+3?\n<think>\n"
    assert hf.encode(text) == tok.encode(text, bos=True)
    assert hf.decode(hf.encode(text), skip_special_tokens=False) == "<bos>" + text
