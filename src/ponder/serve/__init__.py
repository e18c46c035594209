"""An OpenAI-compatible server for ponder's reasoners: the chain of thought stays
hidden, clients get the answer, a summary of the thinking, and a bill for the reasoning
tokens; ``reasoning_effort`` (or ``auto``) decides how long to think.

    engine.py    queue, worker threads, what a client may see of a chain of thought
    effort.py    effort levels mapped onto ponder.think strategies
    summary.py   extractive and LM-written reasoning summaries
    protocol.py  request/response bodies, in the order of OpenAI's API reference
    chat.py, responses.py, streaming.py, errors.py, app.py   the HTTP side

See README.md in this directory for the API as a client sees it.
"""

from ponder.serve.app import create_app, serve, serve_in_thread
from ponder.serve.effort import EffortPolicy
from ponder.serve.engine import Engine
from ponder.serve.summary import ExtractiveSummarizer, LMSummarizer, get_summarizer

__all__ = ["EffortPolicy", "Engine", "ExtractiveSummarizer", "LMSummarizer", "create_app",
           "get_summarizer", "serve", "serve_in_thread"]
