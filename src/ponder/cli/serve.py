"""``ponder serve``: the OpenAI-compatible server."""

from __future__ import annotations

import typer

from ponder.cli._common import COMPILE_HELP, KV_DTYPE_HELP, kv_options


def serve(
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model spec for ponder.lm.registry.load_lm "
        "(a checkpoint directory, a preset or a backend spec); default: the bundled model."),
    kv_dtype: str = typer.Option("float32", "--kv-dtype", help=KV_DTYPE_HELP),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it."),
    port: int = typer.Option(8000, help="TCP port."),
    name: str | None = typer.Option(
        None, help="Model id clients must send (default: the model's own name)."),
    effort: str = typer.Option(
        "medium", help="reasoning_effort of requests that give none: low|medium|high|auto."),
    max_tokens: int | None = typer.Option(
        None, help="Cap on each chain of thought, in tokens (default: the context left)."),
    medium_samples: int = typer.Option(5, help="Chains of thought at effort medium."),
    high_samples: int = typer.Option(16, help="Chains of thought at effort high."),
    auto_policy: str | None = typer.Option(
        None, help="A compute-optimal policy JSON (ponder.think.optimal.save_policies): "
        "effort auto then runs the optimal strategy with its first policy."),
    summarizer: str = typer.Option(
        "extractive", help="Reasoning summaries: extractive (deterministic) or lm."),
    summary_model: str | None = typer.Option(
        None, help="With --summarizer lm: the model that writes summaries (default: the "
        "served one)."),
    prm: str | None = typer.Option(
        None, help="A process reward model (`ponder prm train`): effort high then runs "
        "PRM-weighted best-of-N."),
    max_pending: int = typer.Option(64, help="Requests queued or running before 429s."),
    completions: bool = typer.Option(True, help="Serve raw text completions at "
                                     "/v1/completions (for ponder eval --model http://...); "
                                     "--no-completions keeps every chain of thought hidden."),
    workers: int = typer.Option(16, help="Requests thinking at once (LM calls are merged)."),
) -> None:
    """Serve a reasoner behind an OpenAI-compatible API (chat completions, responses) and
    a chat page at /. The chain of thought stays hidden; clients get the answer, a
    summary of the thinking and a count of the reasoning tokens they are billed for."""
    from ponder.errors import ConfigError
    from ponder.lm.registry import load_lm
    from ponder.serve import EffortPolicy, Engine, create_app, get_summarizer
    from ponder.serve.app import serve as run

    if summary_model and summarizer != "lm":
        raise ConfigError("--summary-model names the model that writes summaries; it needs "
                          "--summarizer lm")
    lm = load_lm(model, **kv_options(kv_dtype, compile))
    scorers = None
    if prm:
        from ponder.lm.reward import open_scorer
        from ponder.think import Scorers

        scorers = Scorers(prm=open_scorer(prm))
    writer = get_summarizer(summarizer, load_lm(summary_model) if summary_model else None)
    policy = EffortPolicy(medium_n=medium_samples, high_n=high_samples, auto_policy=auto_policy)
    engine = Engine(lm, name, policy=policy, scorers=scorers,
                    summarizer=writer, default_effort=effort, max_tokens=max_tokens,
                    max_pending=max_pending, workers=workers)
    typer.echo(f"serving {engine.name} on http://{host}:{port} (chat page at /)")
    try:
        run(create_app(engine, completions=completions), host=host, port=port)
    finally:
        engine.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
