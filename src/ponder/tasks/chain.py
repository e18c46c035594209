"""Word problems over a dependency graph of variables, in arithmetic modulo a prime.

Grade-school math in miniature: the question needs exactly ``difficulty`` operations
(1..20), each defining one variable from earlier ones or small numbers; from level 6 on,
distractor facts (variables the question does not need) are mixed in. Facts appear in
a random dependency order, so each is stated after what it uses:

    Work mod 17. q is 5. w is q plus 7. z is w times q. What is z?
    w=q+7:q=5;5+7=12;w=12
    z=w*q:w=12,q=5;12*5=60;z=9
    Answer: 9

The teacher computes one needed variable a line, in the order the prompt states them:
the definition copied from the prompt, then the value of each variable it uses restated
(looked up from the prompt or the line that computed it, so the arithmetic that follows
reads only its own line), the values substituted, the plain result, and last the
variable named with its value, reduced mod p. That last part makes every later look-up
a copy of the digits after ``name=`` (as the prompt's ``name is value`` does for
constants) instead of a hop from a line's head to its end: the look-ups were most of
the errors of a model trained without it (a value copied from the wrong line). A
14-minute ablation (``recipes/ablations/reasoner.sh``, arms ``fine`` and ``unnamed``)
was too short to tell the two apart: both stayed at chance.
Lines carry no spaces so that the largest problems fit the built-in model's context
(difficulty 1..20). Style "unnamed" is the trace without the named result
(``z=w*q:w=12,q=5;12*5=60=9``) and "coarse" the one without restated values either
(``z=w*q=12*5=60=9``); both write the reduction as ``=9`` and are kept for the format
ablation. Style "listed" is the default trace after a first line that lists the
constants the needed facts use, in the order the prompt states them (``q=5,k=3``), so
that every later look-up copies the digits after ``name=`` from the trace rather than
reading ``name is value`` in the prompt: with the default trace, 216 of the 284 first
wrong lines (76%) of the bundled model trained before it, at levels 1-5 (n=500), were a
constant looked up wrong (``recipes/chain_errors.py`` ->
``reports/chain_errors_previous.json``). Trained on chain alone for 25 minutes an arm,
it reached 0.284 against 0.132 for "cot" on the same 500 held-out problems of levels
1-5 (``reports/ablation_listed.json``). Style "quoted" restates a constant exactly as
the prompt states it the first time the trace uses it (``z=w*q:w=12,q is 5;...``; later
uses, and computed values, stay ``name=value`` as the trace wrote them), so that every
look-up continues a copy of text that occurs once before it — the prompt's ``q is `` or
a line's ``;w=`` — the pattern an induction head completes (Olsson et al. 2022), where
``q=`` asks the model to map a name onto the prompt's different wording. "direct" is the
answer line alone.

Two problems that differ only in variable names, fact order, distractors or the order
of a sum's or product's operands are one problem: the split is decided on a canonical
form of the question's dependency graph (``canonical_key``), so none has a twin across
the train/test split.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Iterator
from typing import ClassVar

from ponder.errors import InvalidInput
from ponder.tasks.base import Problem, Task, squash

_SYMBOL = {"plus": "+", "minus": "-", "times": "*"}
_WORD = {v: k for k, v in _SYMBOL.items()}
_CONSTS = re.compile(r"(?:[a-z]=\d+,)*[a-z]=\d+")  # style "listed": the first line
_GIVEN = r"[a-z](?:=|is)\d+"  # a restated value, squashed: "q=5", or "q is 5" (quoted)
_LINE = re.compile(
    rf"([a-z])=([a-z]|\d+)([-+*])([a-z]|\d+)(?::((?:{_GIVEN},)*{_GIVEN});|=)"
    r"(\d+)([-+*])(\d+)=(-?\d+)(?:=(\d+))?(?:;([a-z])=(\d+))?"
)

# A fact is [name, "const", value] or [name, word, left, right] with word in _SYMBOL and
# left/right a variable name or a decimal literal (lists, so meta survives JSON).
Fact = list[str]


def _calc(sym: str, x: int, y: int) -> int:
    return x + y if sym == "+" else x - y if sym == "-" else x * y


def _is_var(operand: str) -> bool:
    return operand.isalpha()


def evaluate(facts: list[Fact], modulus: int) -> dict[str, int]:
    """Value of every variable; facts are in dependency order."""
    values: dict[str, int] = {}
    for name, kind, *args in facts:
        if kind == "const":
            values[name] = int(args[0])
        else:
            x, y = (values[a] if _is_var(a) else int(a) for a in args)
            values[name] = _calc(_SYMBOL[kind], x, y) % modulus
    return values


def needed(facts: list[Fact], query: str) -> set[str]:
    """The query and every variable it depends on."""
    deps = {f[0]: [a for a in f[2:] if _is_var(a)] if f[1] != "const" else [] for f in facts}
    out, todo = set(), [query]
    while todo:
        v = todo.pop()
        if v not in out:
            out.add(v)
            todo.extend(deps[v])
    return out


def canonical_key(facts: list[Fact], query: str, modulus: int) -> str:
    """A name-free, order-free form of the question: a hash of the query's dependency
    graph in which a variable is its definition (constants by value), distractors are
    absent, and the operands of + and * are sorted."""
    by_name = {f[0]: f for f in facts}
    memo: dict[str, str] = {}

    def node(v: str) -> str:
        if v not in memo:
            name, kind, *args = by_name[v]
            if kind == "const":
                memo[v] = f"v{args[0]}"
            else:
                ops = [node(a) if _is_var(a) else f"n{a}" for a in args]
                if kind != "minus":
                    ops.sort()
                text = f"{kind}({ops[0]},{ops[1]})"
                # hashed so the form stays short when a variable is used many times
                memo[v] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return memo[v]

    return f"mod{modulus}:{node(query)}"


def _random_topological(facts: dict[str, Fact], rng: random.Random) -> list[Fact]:
    """A uniformly chosen next-available fact at each step (randomised Kahn)."""
    deps = {n: {a for a in f[2:] if _is_var(a)} if f[1] != "const" else set()
            for n, f in facts.items()}
    done: set[str] = set()
    order: list[Fact] = []
    while len(order) < len(facts):
        ready = sorted(n for n in facts if n not in done and deps[n] <= done)
        n = rng.choice(ready)
        done.add(n)
        order.append(facts[n])
    return order


class ChainTask(Task):
    """Dependency chains of +, -, * modulo a small prime; difficulty = operations, 1..20;
    distractor facts: one per six operations, or ``distractors`` at every level."""

    name: ClassVar[str] = "chain"
    min_difficulty: ClassVar[int] = 1
    max_difficulty: ClassVar[int] = 20
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct", "unnamed", "coarse", "listed",
                                         "quoted")

    def __init__(self, modulus: int = 17, distractors: int | None = None) -> None:
        # Values stay below the modulus, so up to 31 every number in a trace has at most
        # two digits (three for a product before reduction): the size bound above holds.
        if not 5 <= modulus <= 31 or any(modulus % k == 0 for k in range(2, modulus)):
            raise InvalidInput(f"chain: modulus must be a prime from 5 to 31, got {modulus}")
        # the 26 letters name up to 3 constants, 20 operations and 3 distractors
        if distractors is not None and not 0 <= distractors <= 3:
            raise InvalidInput(f"chain: distractors must be 0..3, got {distractors}")
        self.modulus = modulus
        self.distractors = distractors

    def n_distractors(self, difficulty: int) -> int:
        """Distractor facts in a problem of ``difficulty``: one per six operations unless
        the task was made with a fixed count (``ChainTask(distractors=k)``, which lets a
        study vary operations and distractors separately)."""
        return difficulty // 6 if self.distractors is None else self.distractors

    def _literal(self, rng: random.Random) -> str:
        # 0 and 1 would make facts like "x plus 0" or "x times 1" that need no work.
        return str(rng.randint(2, self.modulus - 1))

    def _const(self, rng: random.Random, name: str) -> Fact:
        return [name, "const", str(rng.randint(1, self.modulus - 1))]

    def _needed_facts(self, rng: random.Random, d: int, names: Iterator[str]) -> list[Fact]:
        """1..3 constants and ``d`` operations, all of which the last one depends on."""
        facts = [self._const(rng, next(names)) for _ in range(rng.randint(1, min(3, d + 1)))]
        # "pending" holds what no operation uses yet. Each operation uses up to two
        # pending items and adds itself, so it must use enough of them that the
        # remaining operations (each can shrink the set by one) still bring it down to
        # the last operation alone.
        pending = [f[0] for f in facts]
        used: list[str] = []
        for i in range(d):
            lo = max(0 if used else 1, len(pending) + 1 - (d - i))
            take = rng.sample(pending, rng.randint(lo, min(2, len(pending))))
            pending = [v for v in pending if v not in take]
            args = list(take)
            while len(args) < 2:
                reuse = [u for u in used if u not in args]
                if reuse and (not any(_is_var(a) for a in args) or rng.random() < 0.3):
                    args.append(rng.choice(reuse))
                else:
                    args.append(self._literal(rng))
            rng.shuffle(args)
            used.extend(take)
            name = next(names)
            facts.append([name, rng.choice(list(_SYMBOL)), *args])
            pending.append(name)
        assert pending == [facts[-1][0]], pending
        return facts

    def _distractor(self, rng: random.Random, name: str, facts: list[Fact]) -> Fact:
        """A constant, or an operation on any stated variable that nothing uses."""
        if rng.random() < 0.3:
            return self._const(rng, name)
        args = [rng.choice(facts)[0], self._literal(rng)]
        rng.shuffle(args)
        return [name, rng.choice(list(_SYMBOL)), *args]

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        d = self.check_difficulty(difficulty)
        names = iter(rng.sample(string.ascii_lowercase, 26))  # 3 + 20 + 3 at most
        facts = self._needed_facts(rng, d, names)
        query = facts[-1][0]
        for _ in range(self.n_distractors(d)):
            facts.append(self._distractor(rng, next(names), facts))
        order = _random_topological({f[0]: f for f in facts}, rng)
        text = " ".join(f"{f[0]} is {f[2]}." if f[1] == "const" else
                        f"{f[0]} is {f[2]} {f[1]} {f[3]}." for f in order)
        prompt = f"Work mod {self.modulus}. {text} What is {query}?"
        answer = str(evaluate(order, self.modulus)[query])
        return self.make_problem(prompt, answer, d, modulus=self.modulus, facts=order,
                                 query=query)

    def key(self, problem: Problem) -> str:
        return canonical_key(problem.meta["facts"], problem.meta["query"],
                             problem.meta["modulus"])

    def trace_steps(self, problem: Problem, style: str = "cot") -> list[str]:
        style = self.check_style(style)
        if style == "direct":
            return []
        facts, p = problem.meta["facts"], problem.meta["modulus"]
        values = evaluate(facts, p)
        need = needed(facts, problem.meta["query"])
        by_name = {f[0]: f for f in facts}
        steps = []
        if style == "listed":
            used = {a for f in facts if f[0] in need and f[1] != "const" for a in f[2:]}
            listed = [f"{f[0]}={f[2]}" for f in facts if f[1] == "const" and f[0] in used]
            if listed:
                steps.append(",".join(listed))
        quoted: set[str] = set()  # names the trace has restated
        for name, kind, *args in facts:
            if kind == "const" or name not in need:
                continue
            sym = _SYMBOL[kind]
            x, y = (str(values[a]) if _is_var(a) else a for a in args)
            raw = _calc(sym, int(x), int(y))
            tail = f"={raw % p}" if raw != raw % p else ""
            # quoted: a constant in the prompt's words the first time the trace uses it
            # (later look-ups find it in the trace); that also keeps level 20 in context
            given = ",".join(dict.fromkeys(
                f"{a} is {values[a]}" if style == "quoted" and by_name[a][1] == "const"
                and a not in quoted else f"{a}={values[a]}" for a in args if _is_var(a)))
            quoted.update(a for a in args if _is_var(a))
            head = f"{name}={args[0]}{sym}{args[1]}"
            if style != "coarse" and given:
                head += f":{given};"
            else:
                head += "="
            if style in ("cot", "listed", "quoted"):  # the named result is also the reduction
                tail = f";{name}={values[name]}"
            steps.append(f"{head}{x}{sym}{y}={raw}{tail}")
        return steps

    def check_steps(self, problem: Problem, steps: list[str]) -> list[bool]:
        """A line is right when it defines a variable exactly as its fact does, uses only
        given or already computed variables, and gets every value right. Any dependency
        order is accepted, and so is computing a distractor (true, if wasteful)."""
        facts: list[Fact] = problem.meta["facts"]
        p = problem.meta["modulus"]
        values = evaluate(facts, p)
        by_name = {f[0]: f for f in facts}
        known = {f[0] for f in facts if f[1] == "const"}
        out = []
        for line in steps:
            line = squash(line)
            if _CONSTS.fullmatch(line):  # a list of constants (style "listed")
                out.append(_consts_right(line, by_name))
                continue
            ok = self._check_line(line, by_name, values, known, p)
            if ok:
                known.add(line[0])
            out.append(ok)
        return out

    def first_error_kind(self, problem: Problem, steps: list[str]) -> dict | None:
        """The first wrong line of ``steps`` and what went wrong on it (None when every
        line is right), for error analysis: ``kind`` is the first check the line fails,
        in the order a line is written — ``format`` (not a step line), ``definition``
        (not a fact of the prompt, or a variable used before it was computed),
        ``look-up of a constant`` / ``look-up of a computed value`` (a restated value is
        wrong), ``substitution`` (the operands differ from the restated values),
        ``arithmetic`` (the plain result), ``reduction`` (the value mod p); for a
        look-up, ``previous_line`` says whether the wrong value is the one the line
        before named (a copy from the nearest result instead of the right one)."""
        facts: list[Fact] = problem.meta["facts"]
        p = problem.meta["modulus"]
        values = evaluate(facts, p)
        by_name = {f[0]: f for f in facts}
        known = {f[0] for f in facts if f[1] == "const"}
        last: str | None = None  # the value the previous line named
        for i, raw_line in enumerate(steps):
            line = squash(raw_line)
            if _CONSTS.fullmatch(line):  # a list of constants (style "listed")
                if not _consts_right(line, by_name):
                    return {"line": i, "kind": "look-up of a constant", "previous_line": False}
                continue
            if self._check_line(line, by_name, values, known, p):
                known.add(line[0])
                last = line.rsplit("=", 1)[-1]
                continue
            out = {"line": i, "kind": _error_kind(line, by_name, values, known, p),
                   "previous_line": False}
            m = _LINE.fullmatch(line)
            if out["kind"].startswith("look-up") and m and m.group(5):
                given = dict(_given(m.group(5)))
                out["previous_line"] = any(
                    v != str(values.get(k)) and v == last for k, v in given.items())
            return out
        return None

    @staticmethod
    def _check_line(line: str, by_name: dict[str, Fact], values: dict[str, int],
                    known: set[str], p: int) -> bool:
        m = _LINE.fullmatch(line)
        if not m:
            return False
        name, a, sym, b, given, xs, sym2, ys, raw, reduced, named, value = m.groups()
        fact = by_name.get(name)
        if fact is None or list(fact[1:]) != [_WORD[sym], a, b]:
            return False
        if sym2 != sym or any(_is_var(v) and v not in known for v in (a, b)):
            return False
        variables = list(dict.fromkeys(v for v in (a, b) if _is_var(v)))
        # restated values, when written, must name exactly the variables used, in order
        if given is not None and _given(given) != [
                (v, str(values[v])) for v in variables]:
            return False
        want = [values[v] if _is_var(v) else int(v) for v in (a, b)]
        result = _calc(sym, *want)
        if [xs, ys, raw] != [str(want[0]), str(want[1]), str(result)]:
            return False
        if reduced is not None and reduced != str(result % p):
            return False
        if named is not None:  # it must name this line's variable and its value
            return named == name and value == str(result % p)
        return reduced is not None or 0 <= result < p  # unreduced only when in range


def _error_kind(line: str, by_name: dict[str, Fact], values: dict[str, int],
                known: set[str], p: int) -> str:
    """The first check a wrong step line fails (see ``ChainTask.first_error_kind``)."""
    m = _LINE.fullmatch(line)
    if not m:
        return "format"
    name, a, sym, b, given, xs, sym2, ys, raw, reduced, named, value = m.groups()
    fact = by_name.get(name)
    if (fact is None or list(fact[1:]) != [_WORD[sym], a, b] or sym2 != sym
            or any(_is_var(v) and v not in known for v in (a, b))):
        return "definition"
    if given is not None:
        stated = dict(_given(given))
        for k, v in stated.items():
            if k in values and v != str(values[k]):
                return ("look-up of a constant" if by_name[k][1] == "const"
                        else "look-up of a computed value")
        written = [stated.get(v, "") if _is_var(v) else v for v in (a, b)]
        if [xs, ys] != written:
            return "substitution"
    if raw != str(_calc(sym, int(xs), int(ys))):
        return "arithmetic"
    got = value if named is not None else reduced
    if got is not None and got != str(int(raw) % p):
        return "reduction"
    return "other"


def _given(text: str) -> list[tuple[str, str]]:
    """The restated values of a squashed line in order: ``q=5,wis12`` -> [(q, 5), (w, 12)]."""
    return [(item[0], item[1:].removeprefix("=").removeprefix("is"))
            for item in text.split(",")]


def _consts_right(line: str, by_name: dict[str, Fact]) -> bool:
    """A ``name=value,...`` line is right when every name is a constant of the prompt
    and has that value (any subset, any order)."""
    for item in line.split(","):
        name, value = item.split("=")
        fact = by_name.get(name)
        if fact is None or fact[1] != "const" or fact[2] != value:
            return False
    return True
