"""Quiet-STaR (Zelikman et al. 2024, "Language Models Can Teach Themselves to Think
Before Speaking"): a thought before every token, learned by REINFORCE from ordinary text.

One module per concern, in the order data flows:

- ``tokens``: start-of-thought / end-of-thought (and pause) tokens appended to the
  vocabulary, initialised from the embedding of ``"---"``;
- ``backbone`` / ``hf``: what Quiet-STaR needs from a model (embeddings in, explicit
  positions, a custom 4D mask over a cache) for the built-in decoder and for
  transformers Llama/Qwen2 models;
- ``mask``: the attention masks of parallel thoughts;
- ``thoughts``: parallel generation of a thought at every position, one forward per
  thought token;
- ``mixing``: the mixing head between the predictions with and without a thought;
- ``loss`` / ``objective``: the non-myopic REINFORCE objective as pure functions, and
  one step's loss;
- ``model``: the bundle (backbone + meta embeddings + mixing head) and its files;
- ``train``: training on direct-answer text (and the pause / plain controls);
- ``generate``: generation with a thought before each token, behind the LM protocol;
- ``evaluate``: answer likelihood by thought length, gains by token difficulty, direct
  accuracy.

Where this departs from the paper or its reference code (each module says more):
meta-token embeddings live outside the model's embedding table and are never
predicted; the mixing weight is a sigmoid started near 0 rather than an unbounded
zero-initialised output; the base next-token loss is kept with weight 0.5 (as in the
reference code, not in the paper's equations); thought length counts the sampled
tokens only (the paper's counts include the two meta tokens); the training text is the
task families' direct-answer text rather than web text; one model is evaluated at
several thought lengths rather than one model trained per length.
"""
