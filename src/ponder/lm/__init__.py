"""Language models: ponder's built-in decoder, its tokenizer and sampler, and backends
(native, hf, vllm, http) behind the protocol in ``ponder.lm.base``."""

from ponder.lm.base import LM, Completion, SamplingParams, TrainableLM

__all__ = ["LM", "Completion", "SamplingParams", "TrainableLM"]
