"""Judge code answers by running them against unit tests in the sandbox.

o1-style code answers count only if they pass the problem's tests. A completion is free
text: ``extract_code`` takes the code out of Markdown fences, ``function_program`` joins
it to the function header it completes (HumanEval style: either the body, or the whole
function again), and ``check_code`` runs it with the tests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import replace

from ponder.verify.sandbox import SandboxResult, run_code, run_many

# ```python ... ``` (the closing fence may be missing when generation stopped on it)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def extract_code(text: str) -> str:
    """The code in a completion: the longest Python (or untagged) fenced block, else the
    whole text. Leading indentation is kept, since a function body depends on it.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1'
    >>> extract_code("    return x + 1\\n")
    '    return x + 1'
    """
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    # longest wins (ties: the last), so a short usage example does not shadow the answer
    code = max(reversed(python), key=len) if python else text
    lines = code.rstrip().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines the top-level function ``name``.

    >>> defines("import math\\ndef area(r):\\n    return math.pi * r * r", "area")
    True
    >>> defines("    return area(r)", "area")
    False
    """
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def function_program(prefix: str, code: str, entry_point: str) -> str:
    """The program a function completion stands for.

    ``prefix`` is the problem's header (imports, helpers, the signature and docstring of
    ``entry_point``). Completions that define ``entry_point`` again replace it (the
    header stays first for its imports and helpers; a function whose body is only a
    docstring is valid Python). Anything else is the body, continuing the header; a
    body written without indentation is indented.

    >>> print(function_program("def inc(x):\\n    '''x + 1'''\\n", "return x + 1", "inc"), end="")
    def inc(x):
        '''x + 1'''
        return x + 1
    """
    if defines(code, entry_point):
        return f"{prefix.rstrip()}\n\n\n{code}\n"
    if code and not code[0].isspace():
        code = "\n".join("    " + ln if ln.strip() else ln for ln in code.splitlines())
    return f"{prefix.rstrip()}\n{code}\n"


def check_code(candidate_code: str, test_code: str, entry_point: str,
               **run_kwargs) -> SandboxResult:
    """Run ``candidate_code`` (defining ``entry_point``) with HumanEval-style tests: a
    ``check(candidate)`` function in ``test_code``, called on ``entry_point``.

    Passing needs both a zero exit and a random marker the program prints only after
    ``check`` returned: a candidate that calls ``sys.exit(0)`` or ``os._exit(0)`` before
    the tests run would otherwise pass. (A program that reads its own source can still
    find the marker; the sandbox only limits what such a program can do elsewhere.)
    ``run_kwargs`` go to ``run_code`` (timeout_s, memory_mb, ...).
    """
    program, marker = _test_program(candidate_code, test_code, entry_point)
    return _judge(run_code(program, **run_kwargs), marker)


def check_many(cases: Sequence[tuple[str, str, str]], workers: int | None = None,
               **run_kwargs) -> list[SandboxResult]:
    """``check_code`` over ``(candidate_code, test_code, entry_point)`` triples, run in
    parallel by ``run_many``; results in input order."""
    built = [_test_program(*case) for case in cases]
    results = run_many([program for program, _ in built], workers=workers, **run_kwargs)
    return [_judge(r, marker) for r, (_, marker) in zip(results, built, strict=True)]


def _test_program(candidate_code: str, test_code: str, entry_point: str) -> tuple[str, str]:
    marker = f"ponder-tests-done-{secrets.token_hex(8)}"
    # On a line of its own (the candidate may have printed without a newline), after
    # whatever the candidate left in stdout's buffer.
    line = ("\n" + marker + "\n").encode()
    done = (f"import os as _ponder_os, sys as _ponder_sys\n_ponder_sys.stdout.flush()\n"
            f"_ponder_os.write(1, {line!r})\n")
    program = f"{candidate_code}\n\n\n{test_code}\n\n\ncheck({entry_point})\n{done}"
    return program, marker


def _judge(result: SandboxResult, marker: str) -> SandboxResult:
    if not result.passed:
        return result
    if marker not in result.stdout.splitlines():
        return replace(result, passed=False, reason="failed: exited before the tests ran")
    return replace(result, stdout=result.stdout.replace(f"\n{marker}\n", "", 1))
