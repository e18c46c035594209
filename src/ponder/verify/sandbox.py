"""Run untrusted Python in a sandbox and say whether it passed, and if not, why.

A candidate program (model-written code plus its unit tests) runs in its own processes
with a wall-clock deadline, CPU, memory, process and file-size limits, an empty
environment and a fresh working directory. How much more isolation it gets depends on
what the machine allows; ``isolation_level()`` says which level is active:

- ``root-namespaces`` (running as root, ``unshare`` available): new network namespace
  (only a downed loopback, so no connection goes anywhere), PID namespace (every process
  the candidate starts dies with it) and mount namespace (private, size-capped /tmp,
  /var/tmp and /dev/shm). The candidate runs without capabilities as a dedicated
  unprivileged uid claimed for that run alone, so it can write nowhere but its private
  directories, and RLIMIT_NPROC (counted per uid) confines a fork bomb to its own sandbox.
- ``user-namespaces`` (not root, user namespaces allowed): the same namespaces inside a
  new user namespace. The candidate keeps the caller's uid: files the caller owns outside
  /tmp stay writable. Never used as root (it would keep root's access to host files).
- ``rlimits`` (neither): a new session, resource limits, the clean environment and the
  temporary directory only; as root, still a dedicated uid whose processes are all killed
  afterwards. The network is reachable, and without root a process that leaves the
  session outlives the run.

Reasons a run reports: ``passed``, ``timeout``, ``memory``, ``process limit``, ``output
limit``, ``syntax error: ...``, ``failed: <last line of the traceback>`` (or ``failed: exit
code N``), ``crashed: <signal>``. A sandbox that cannot start a program raises
``SandboxError`` instead: a broken verifier must never pass for a wrong answer.
"""

from __future__ import annotations

import fcntl
import functools
import marshal
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

ISOLATION_LEVELS: dict[str, str] = {
    "root-namespaces": "network, PID and mount namespaces; a dedicated unprivileged uid per "
                       "run; private /tmp; resource limits",
    "user-namespaces": "user, network, PID and mount namespaces; private /tmp; resource "
                       "limits; the caller's own uid",
    "rlimits": "resource limits, clean environment and temporary directory only (a "
               "dedicated uid when root); network reachable",
}
#: first uid of the range handed to sandboxed runs (one uid per concurrent run); far above
#: the ranges that distributions and container tools give to real accounts
UID_BASE = 2_000_000_000
MAX_CONCURRENT_UIDS = 4096
OUTPUT_TAIL = 64 * 1024  # bytes of stdout/stderr kept (the end: tracebacks live there)
_GRACE_S = 2.0  # extra wall time the host waits before killing a sandbox itself
_INIT = str(Path(__file__).with_name("_sandbox_init.py"))
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_UNSHARE = {
    "root-namespaces": ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"],
    "user-namespaces": ["--user", "--map-root-user", "--net", "--pid", "--fork",
                        "--kill-child", "--mount-proc"],
}


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not set up or start the program)."""


@dataclass(frozen=True)
class SandboxResult:
    """How one run ended. ``reason`` is ``"passed"`` exactly when ``passed`` is True."""

    passed: bool
    reason: str
    stdout: str
    stderr: str
    duration: float


# -- isolation level ----------------------------------------------------------------------
@functools.cache
def isolation_level() -> str:
    """The strongest level that works here, found once per process by running a program."""
    # Root never falls back to a user namespace: its candidate would keep root's access
    # to host files, which the dedicated uid of "rlimits" takes away.
    candidates = ["root-namespaces" if os.geteuid() == 0 else "user-namespaces", "rlimits"]
    if not shutil.which("unshare"):
        candidates = ["rlimits"]
    errors = []
    for level in candidates:
        try:
            r = run_code("print('ok')", timeout_s=10, isolation=level)
        except SandboxError as e:
            errors.append(f"{level}: {e}")
            continue
        if r.passed and r.stdout == "ok\n":
            return level
        errors.append(f"{level}: {r.reason} {r.stderr[-300:]}")
    raise SandboxError("no sandbox level can run Python here:\n" + "\n".join(errors))


def _command(level: str) -> list[str]:
    if level == "rlimits":
        return []
    return [shutil.which("unshare") or "unshare", *_UNSHARE[level], "--"]


def _install_paths(python: str) -> list[str]:
    """Directories the interpreter needs: its own prefix, and the venv it may sit in."""
    paths = {str(Path(python).absolute().parent.parent),
             str(Path(python).resolve().parent.parent)}
    if Path(python).resolve() == Path(sys.executable).resolve():
        paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return sorted(paths)


# -- dedicated uids -----------------------------------------------------------------------
def _lock_dir() -> str:
    d = os.path.join(tempfile.gettempdir(), "ponder-sandbox-uids")
    os.makedirs(d, mode=0o700, exist_ok=True)
    st = os.lstat(d)
    if not os.path.isdir(d) or os.path.islink(d) or st.st_uid != os.geteuid():
        raise SandboxError(f"{d} is not a directory owned by this user; remove it")
    return d


@contextmanager
def _claimed_uid() -> Iterator[int]:
    """A uid no other run (in any process) is using, held by an flock until released.

    Held for the whole run and until its processes are dead, so RLIMIT_NPROC counts only
    this run, and killing that uid's processes can never hit another run.
    """
    d = _lock_dir()
    for uid in range(UID_BASE, UID_BASE + MAX_CONCURRENT_UIDS):
        fd = os.open(os.path.join(d, str(uid)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # releases the lock
        return
    raise SandboxError(f"more than {MAX_CONCURRENT_UIDS} sandboxed runs at once")


def _tasks_of(uid: int) -> int:
    """Processes and threads of ``uid``: RLIMIT_NPROC counts all of them, so a limit for a
    run that keeps the caller's uid has to leave room for what the caller already runs."""
    n = 0
    for pid in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            n += int(fields.get("Threads", "1"))
    return n


# -- one run ------------------------------------------------------------------------------
def run_code(
    program: str,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    *,
    nproc: int = 64,
    disk_mb: int = 64,
    stdin: str = "",
    isolation: str | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Run the Python source ``program`` in a sandbox; passed means it exited with 0.

    ``timeout_s`` bounds wall-clock and CPU time; ``memory_mb`` the address space;
    ``nproc`` the processes and threads; ``disk_mb`` each written file (stdout included)
    and the private /tmp. ``isolation`` forces a level (default: ``isolation_level()``);
    ``python`` is the interpreter that runs the program (default: this one).
    """
    if isolation is not None and isolation not in ISOLATION_LEVELS:
        raise ValueError(f"isolation must be one of {list(ISOLATION_LEVELS)}, "
                         f"got {isolation!r}")
    if isolation == "user-namespaces" and os.geteuid() == 0:
        raise ValueError("as root, 'user-namespaces' would give the program root's access "
                         "to host files; use 'root-namespaces' or 'rlimits'")
    if timeout_s <= 0 or memory_mb <= 0 or nproc <= 0 or disk_mb <= 0:
        raise ValueError("timeout_s, memory_mb, nproc and disk_mb must be positive")
    try:  # a syntax error needs no process, and must not be mistaken for a test failure
        compile(program, "main.py", "exec", dont_inherit=True)
    except SyntaxError as e:
        return SandboxResult(False, f"syntax error: {e.msg} (line {e.lineno})", "", "", 0.0)
    except (ValueError, RecursionError, MemoryError) as e:
        return SandboxResult(False, f"syntax error: {type(e).__name__}: {e}", "", "", 0.0)
    level = isolation or isolation_level()
    limits = _Limits(timeout_s, memory_mb, nproc, disk_mb)
    python = (shutil.which(python) or python) if python else sys.executable
    if os.geteuid() == 0:  # only root can hand the program a uid of its own
        with _claimed_uid() as uid:
            return _execute(program, stdin, level, uid, limits, python)
    # RLIMIT_NPROC counts every process of the uid: leave room for the caller's own
    limits = replace(limits, nproc=nproc + _tasks_of(os.getuid()))
    return _execute(program, stdin, level, None, limits, python)


@dataclass(frozen=True)
class _Limits:
    timeout_s: float
    memory_mb: int
    nproc: int
    disk_mb: int


def _execute(program: str, stdin: str, level: str, uid: int | None, limits: _Limits,
             python: str) -> SandboxResult:
    with (tempfile.TemporaryDirectory(prefix="ponder-sandbox-") as host_dir,
          tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout,
          tempfile.TemporaryFile() as ferr):
        main = os.path.join(host_dir, "main.py")
        # surrogatepass: odd model output must fail in the program, not in the verifier
        Path(main).write_text(program, encoding="utf-8", errors="surrogatepass")
        if uid is not None and level == "rlimits":
            os.chown(host_dir, uid, uid)  # the working directory itself, there
        fin.write(stdin.encode("utf-8", errors="surrogatepass"))
        fin.seek(0)
        read_end, write_end = os.pipe()
        cfg = {
            "status_fd": write_end, "program": main, "private": level != "rlimits",
            "uid": uid, "python": python, "keep": _install_paths(python), "env": _ENV,
            "deadline_s": limits.timeout_s,
            "limits": {"cpu_s": max(1, math.ceil(limits.timeout_s)),
                       "memory_mb": limits.memory_mb, "nproc": limits.nproc,
                       "disk_mb": limits.disk_mb},
        }
        # marshal: the first process runs this same interpreter, and needs no json import
        cmd = [*_command(level), sys.executable, "-I", "-S", _INIT, marshal.dumps(cfg).hex()]
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, env=_ENV,
                                    cwd=host_dir, pass_fds=(write_end,),
                                    start_new_session=True)
        finally:
            os.close(write_end)
        killed = _wait_or_kill(proc, limits.timeout_s + _GRACE_S)
        duration = time.monotonic() - start
        statuses = _read_statuses(read_end)
        stdout, stderr = _tail(fout), _tail(ferr)
    for status in statuses:
        if "error" in status:
            raise SandboxError(f"[{level}] {status['error']}")
    if not statuses and not killed:
        raise SandboxError(f"[{level}] the sandbox exited (code {proc.returncode}) without "
                           f"a status: {stderr[-500:]}")
    reason = classify({"timeout": True} if killed else statuses[0], stderr)
    return SandboxResult(reason == "passed", reason, stdout, stderr, duration)


def _wait_or_kill(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``proc``; past ``timeout`` (or on any interruption) kill its whole
    session. True when it had to be killed."""
    ended = False
    try:
        ended = _wait(proc, timeout)
    finally:
        if proc.returncode is None:
            # not reaped yet, so the group id is still this session's: kill the launcher,
            # the sandbox's first process and every candidate process left in it
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return not ended


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``proc`` to end; False on timeout. A pidfd wakes up the moment it exits
    (``Popen.wait(timeout)`` polls, sleeping up to 50 ms a turn)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if ready:
        proc.wait()
    return bool(ready)


def _read_statuses(fd: int) -> list[dict]:
    """The status lines the sandbox's first process wrote: ``exit N``, ``signal N``,
    ``timeout`` or ``error MESSAGE`` (as dicts: ``{"exit": 0}``...)."""
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        data = b""
    finally:
        os.close(fd)
    statuses = []
    for line in data.decode(errors="replace").splitlines():
        kind, _, value = line.partition(" ")
        if kind in ("exit", "signal"):
            statuses.append({kind: int(value)})
        elif kind in ("timeout", "error"):
            statuses.append({kind: value or True})
    return statuses


def _tail(f) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - OUTPUT_TAIL))
    return f.read().decode("utf-8", errors="replace")


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def classify(status: dict, stderr: str) -> str:
    """The reason for a run's end, from the status its first process wrote and the
    program's stderr (whose last line is the exception when Python died of one).

    >>> classify({"exit": 0}, "")
    'passed'
    >>> classify({"exit": 1}, "Traceback ...\\n  x\\nAssertionError: 2 != 3\\n")
    'failed: AssertionError: 2 != 3'
    >>> classify({"exit": 1}, "...\\nMemoryError\\n")
    'memory'
    >>> classify({"signal": 24}, "")
    'timeout'
    >>> classify({"signal": 9}, ""), classify({"signal": 40}, "")
    ('crashed: SIGKILL', 'crashed: signal 40')
    """
    if status.get("timeout"):
        return "timeout"
    if "signal" in status:
        sig = status["signal"]
        if sig == signal.SIGXCPU:
            return "timeout"  # RLIMIT_CPU
        if sig == signal.SIGXFSZ:
            return "output limit"  # RLIMIT_FSIZE: a file or stdout grew too large
        try:
            return f"crashed: {signal.Signals(sig).name}"
        except ValueError:  # real-time signals have no name
            return f"crashed: signal {sig}"
    code = status.get("exit")
    if code == 0:
        return "passed"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    m = _EXCEPTION_LINE.match(last)
    exc = m.group(1).rsplit(".", 1)[-1] if m else ""
    if exc == "MemoryError" or "Cannot allocate memory" in last:
        return "memory"
    # fork/clone hit RLIMIT_NPROC; the forked children's tracebacks interleave, so the
    # last line may be another's unfinished one: any child's error line counts
    if any(ln.lstrip().startswith("BlockingIOError: [Errno 11]") for ln in lines):
        return "process limit"
    if "[Errno 27]" in last:  # EFBIG: Python ignores SIGXFSZ, so writes fail instead
        return "output limit"
    return f"failed: {last[:300]}" if last else f"failed: exit code {code}"


# -- many runs ----------------------------------------------------------------------------
def run_many(programs: Sequence[str], workers: int | None = None,
             **kwargs) -> list[SandboxResult]:
    """``run_code`` over ``programs`` with ``workers`` sandboxes at a time (default: one
    per CPU), results in input order. Threads only wait on subprocesses, so the GIL is
    no bottleneck; every run cleans up its own processes before its thread moves on."""
    workers = workers or os.cpu_count() or 1
    if not programs:
        return []
    if kwargs.get("isolation") is None:
        isolation_level()  # probe once, before the threads race to do it
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        return list(pool.map(lambda p: run_code(p, **kwargs), programs))
