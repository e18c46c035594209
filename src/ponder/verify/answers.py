"""Extract the final answer from free text.

Order of precedence (the most explicit marker wins, the last occurrence of it wins):
1. ``<answer>...</answer>`` tags (DeepSeek-R1 / reasoning-gym style; may span lines),
2. an answer line ``Answer: ...`` (the format of ponder's teacher traces; Markdown
   emphasis such as ``**Final Answer:**`` is allowed),
3. ``\\boxed{...}`` (MATH style; nested braces handled),
4. ``#### ...`` (GSM8K style),
5. the last number in the text.

That is the lenient rule. ``answer_line_answer`` is the strict one (the answer line
only); ``ANSWER_RULES`` names both, for tasks to choose from.

Inside an answer line or tag, a ``\\boxed{...}`` or ``$...$`` wrapper is removed, so
``Answer: $\\boxed{5}$`` gives ``5``.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"(?is)<answer>(.*?)</answer>")
_ANSWER_LINE = re.compile(
    r"(?im)^[ \t>#*_]*(?:the\s+)?(?:final\s+)?answer(?:\s+is)?[ \t*_]*[:：][ \t]*(.+?)\s*$")
_HASHES = re.compile(r"(?m)####\s*(.+?)\s*$")
# thousands groups only when well-formed, so "1,2,3" is three numbers, not 123
_NUMBER = re.compile(r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-−]?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; also
    the brace-less ``\\boxed 5`` form."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + len("\\boxed" if text.startswith("\\boxed", start) else "\\fbox")
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        m = re.match(r"[^\s${}]+", text[i:]) if text[i - 1] == " " else None
        return m.group(0) if m else None
    i += 1
    depth, j = 1, i
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1].strip() if depth == 0 else None


def _clean(answer: str) -> str:
    """Strip the wrappers an explicit answer may carry: Markdown emphasis, ``$...$``,
    ``\\boxed{}``, a trailing period."""
    a = answer.strip().strip("*_").strip()
    boxed = last_boxed(a)
    if boxed:
        a = boxed
    if len(a) > 1 and a.startswith("$") and a.endswith("$"):
        a = a.strip("$").strip()
    return a.rstrip(".").strip()


def extract_answer(text: str, last_number: bool = True) -> str | None:
    """Return the final answer in ``text`` as a string, or ``None`` if there is none.
    With ``last_number=False`` only an explicit marker (1-4 above) counts.

    >>> extract_answer("3 + 4 = 7\\nAnswer: 7")
    '7'
    >>> extract_answer("so the result is \\\\boxed{\\\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> extract_answer("Natalia sold 72 clips.\\n#### 72")
    '72'
    >>> extract_answer("<think>maybe 3</think><answer>4</answer>")
    '4'
    >>> extract_answer("**Final Answer:** $\\\\boxed{12}$")
    '12'
    >>> extract_answer("she has 3 apples then 5")
    '5'
    >>> extract_answer("no digits here") is None
    True
    """
    tags = [t for t in _TAG.findall(text) if t.strip()]
    if tags:
        return _clean(tags[-1]) or None
    lines = _ANSWER_LINE.findall(text)
    if lines and _clean(lines[-1]):
        return _clean(lines[-1])
    boxed = last_boxed(text)
    if boxed:
        return boxed
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    numbers = _NUMBER.findall(text) if last_number else []
    if numbers:
        return numbers[-1].replace(",", "").replace("−", "-")
    return None


def answer_line_answer(text: str) -> str | None:
    """The answer of the last answer line (``Answer: ...``, also ``**Final Answer:**``),
    or ``None`` when there is none: the strict rule of tasks that teach that line, where
    a number elsewhere in the text is not an answer.

    >>> answer_line_answer("3 + 8 = 11\\nAnswer: 11")
    '11'
    >>> answer_line_answer("no idea 3 or 11") is None
    True
    """
    lines = _ANSWER_LINE.findall(text)
    return (_clean(lines[-1]) or None) if lines else None


#: how a task reads the final answer of a completion: only its answer line (built-in
#: tasks, which teach that line), or every marker down to the last number (external data,
#: whose models answer in many formats)
ANSWER_RULES = {"answer-line": answer_line_answer, "lenient": extract_answer}


def extract_by_rule(text: str, rule: str) -> str | None:
    """The final answer of ``text`` as read by one of ``ANSWER_RULES``.

    >>> extract_by_rule("no idea 3 or 11", "lenient"), extract_by_rule("no idea 11", "answer-line")
    ('11', None)
    """
    if rule not in ANSWER_RULES:
        raise ValueError(f"unknown answer rule {rule!r}; choose one of {sorted(ANSWER_RULES)}")
    return ANSWER_RULES[rule](text)


def normalize_answer(answer: str) -> str:
    """Canonical string form for exact comparison: trims spaces, thousands separators,
    a trailing period, ``$`` signs and leading ``+``; ``"1,000."`` -> ``"1000"``.

    >>> normalize_answer(" $1,000. ")
    '1000'
    >>> normalize_answer("2.50"), normalize_answer("-.5"), normalize_answer("1,2,3")
    ('2.5', '-0.5', '1,2,3')
    """
    a = answer.strip().strip("$").strip().rstrip(".").strip().replace("−", "-")
    a = re.sub(r"^([+-]?)\.(?=\d+$)", r"\g<1>0.", a)  # ".5" -> "0.5"
    # commas only as well-formed thousands groups: "1,2,3" is a list, not 123
    if re.fullmatch(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", a):
        a = a.replace(",", "").lstrip("+")
        if "." in a:
            a = a.rstrip("0").rstrip(".")
        if a in ("-0", ""):
            a = "0"
    return " ".join(a.split())
