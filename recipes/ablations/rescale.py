"""Copy a checkpoint with another rotary position scale (``ModelConfig.position_scale``):
a model trained on randomized positions of mean gap s (``ponder train --position-span
s``) then runs at the gaps it was trained on instead of at gap 1.

    python recipes/ablations/rescale.py --model runs/ablation_span/span --scale 1.25 \\
        --out runs/ablation_span/scaled/checkpoint
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ponder.errors import PonderError
from ponder.lm.checkpoint import load_checkpoint, model_dir, save_checkpoint
from ponder.lm.model import Transformer


def rescale(source: Path, scale: float, out: Path) -> Path:
    """Write ``source``'s model to ``out`` with ``position_scale`` set to ``scale``."""
    model, tok, recipe = load_checkpoint(model_dir(source))
    cfg = dataclasses.replace(model.cfg, position_scale=scale)
    scaled = Transformer(cfg)
    scaled.load_state_dict(model.state_dict())
    recipe = {**recipe, "rescaled_from": str(source), "position_scale": scale,
              "command": " ".join(["python", *sys.argv])}
    return save_checkpoint(out, scaled, tok, recipe)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="a checkpoint or a run")
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    try:
        print(f"wrote {rescale(args.model, args.scale, args.out)}")
    except (PonderError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
