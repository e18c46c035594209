"""Model strings: one text names any model every command can use (``--model``).

    runs/small            a ponder checkpoint directory (the built-in decoder, native), or
                          a training run directory holding one in checkpoint/
    native:runs/small     the same, explicitly
    hf:models/qwen-0.5b   a transformers causal LM in a local directory (HFLM)
    vllm:models/qwen-7b   the same directory served by vLLM on a GPU (VLLMLM)
    http://host:8000/v1#qwen-7b
                          an OpenAI-compatible completions endpoint and its model name
    (none)                the default reasoner bundled at ponder/assets/default

Backends are imported only when asked for, so naming a checkpoint never imports vLLM or
transformers' model code. Keyword arguments go to the backend's constructor.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from ponder.errors import InvalidInput, ModelError, UnknownName
from ponder.lm.base import LM


def default_model_path() -> Path:
    """Where the bundled default reasoner lives (it may not have been trained yet)."""
    return Path(str(resources.files("ponder") / "assets" / "default"))


def weights_digest(model: str | None) -> str | None:
    """The first 16 hex digits of the SHA-256 of a ponder checkpoint's weights, for the
    provenance of a report: ``None`` or ``"default"`` is the bundled reasoner, a path or
    ``native:PATH`` a checkpoint or training run. None for other backends or when there
    are no weights to read (so a report can always ask)."""
    if model is None or model == "default":
        path = default_model_path()
    elif model.startswith("native:"):
        path = Path(model[len("native:"):])
    elif _PREFIX.fullmatch(model) or model.startswith(("http://", "https://")):
        return None
    else:
        path = Path(model)
    path = path.expanduser()
    for weights in (path / "model.safetensors", path / "checkpoint" / "model.safetensors"):
        if weights.is_file():
            digest = hashlib.sha256()
            with weights.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()[:16]
    return None


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not path or not p.exists():
        raise ModelError(f"{what} {p if path else '(empty path)'} does not exist")
    return p


def _native(path: str, **kw: Any) -> LM:
    from ponder.lm.checkpoint import model_dir
    from ponder.lm.native import NativeLM

    return NativeLM.from_checkpoint(model_dir(_existing(path, "checkpoint directory")), **kw)


def _hf(path: str, **kw: Any) -> LM:
    p = _existing(path, "Hugging Face model directory")
    from ponder.lm.hf import HFLM

    return HFLM(p, **kw)


def _vllm(path: str, **kw: Any) -> LM:
    p = _existing(path, "model directory")
    from ponder.lm.vllm import VLLMLM

    return VLLMLM(p, **kw)


def _http(url: str, **kw: Any) -> LM:
    from ponder.lm.http import HTTPLM

    base, _, fragment = url.partition("#")
    model = kw.pop("model", None)
    if fragment and model and fragment != model:
        raise InvalidInput(f"model named twice: {fragment!r} in the URL and {model!r}")
    model = fragment or model
    if not model:
        raise InvalidInput(f"{url}: name the served model, as in {base}#MODEL_NAME "
                           "(or pass model=...)")
    return HTTPLM(base, model, **kw)


BACKENDS: dict[str, Callable[..., LM]] = {"native": _native, "hf": _hf, "vllm": _vllm}
_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9_+.-]+):(.*)", re.DOTALL)


def _foreign(spec: str, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` for a backend that is not ponder's own model: its cache type is that
    backend's business, so only the default ``kv_dtype`` and ``compile`` are accepted
    (and dropped)."""
    kw = dict(kw)
    kv = kw.pop("kv_dtype", "float32")
    if kv != "float32":
        raise InvalidInput(f"kv_dtype {kv!r} applies to ponder's own models, not {spec}")
    if kw.pop("compile", False):
        raise InvalidInput(f"compile applies to ponder's own models, not {spec}")
    return kw


def load_lm(spec: str | None = None, **kw: Any) -> LM:
    """The LM a model string names (see the module docstring)."""
    if spec is None:
        path = default_model_path()
        if not (path / "config.json").exists():
            raise ModelError(f"no default model is bundled at {path}; train one with "
                             "`ponder train` or pass --model (a checkpoint, hf:PATH, "
                             "vllm:PATH or an http(s) URL#MODEL)")
        return _native(str(path), **kw)
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return _http(spec, **_foreign(spec, kw))
    m = _PREFIX.fullmatch(spec)
    if m and m[1] in BACKENDS:
        return BACKENDS[m[1]](m[2], **(kw if m[1] == "native" else _foreign(spec, kw)))
    # "foo:bar" is a typo'd backend unless such a path exists (one-letter prefixes are
    # Windows drives, paths with a slash before the colon are plain paths)
    if m and not Path(spec).expanduser().exists():
        raise UnknownName("model backend prefix", m[1], [*BACKENDS, "http", "https"])
    return _native(spec, **kw)
