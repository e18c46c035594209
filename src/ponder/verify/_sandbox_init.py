"""The first process of a code sandbox: PID 1 of its namespaces, when it has some.

``ponder.verify.sandbox`` starts it as ``python -I -S _sandbox_init.py CONFIG`` with the
same interpreter as its own (CONFIG is a hex ``marshal`` dump: no json/re imports). It
uses the standard library only, so it starts fast and never imports the caller's
code. It

1. builds a private file-system view (namespace levels only): an empty, size-capped tmpfs
   over /tmp, /var/tmp and /dev/shm, and over every directory an unprivileged user could
   not enter on the way to the Python installation, which is then bound back in;
2. forks the candidate, which sets its resource limits, drops every capability, switches
   to a dedicated unprivileged uid (when started as root) and execs Python on the program
   in a fresh working directory;
3. waits for it until its deadline and writes how it ended, as one line, to the status
   pipe (``exit N``, ``signal N``, ``timeout`` or ``error MESSAGE``): a channel the
   candidate cannot reach, unlike its stdout or exit code.

When this process exits, the kernel kills whatever the candidate left in the PID
namespace; without namespaces, every process of the dedicated uid is killed instead.
"""

import ctypes
import marshal
import os
import resource
import signal
import sys
import time

TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
WORKDIR = "/tmp/work"
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 0x2, 0x4, 0x1000, 0x4000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
MB = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode()), f"mount {target}")


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b'] (the directories one walks through to reach it)."""
    parts = path.strip("/").split("/")
    return ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def private_view(keep: list[str], disk_mb: int, for_other_users: bool) -> None:
    """Hide the shared temporary directories (and, for another uid, directories it could
    not enter) behind fresh tmpfs mounts, binding back only the paths in ``keep``."""
    keep = sorted({os.path.realpath(k) for k in keep if os.path.exists(k)})
    hide = {d for d in TMP_DIRS if os.path.isdir(d)}
    if for_other_users:
        # e.g. an interpreter under /root (mode 700): /root becomes an empty, enterable
        # tmpfs in this namespace, holding only a bind mount of the installation.
        hide |= {a for k in keep for a in _ancestors(k) if not os.stat(a).st_mode & 0o001}
    plan = []
    for h in sorted(hide, key=lambda p: p.count("/")):  # shallow first
        kids = sorted({k[len(h) + 1:].split("/")[0] for k in keep if k.startswith(h + "/")})
        # O_PATH handles taken before any mount hides the originals
        plan.append((h, [(kid, os.open(os.path.join(h, kid), os.O_PATH)) for kid in kids]))
    for h, kids in plan:
        mode = "1777" if h in TMP_DIRS else "0755"
        _mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_mb}m,mode={mode}")
        for kid, fd in kids:
            target = os.path.join(h, kid)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(target)
            else:
                open(target, "x").close()
            _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
            os.close(fd)


def prepare(cfg: dict) -> str:
    """Set up the file-system view and the working directory; return the directory."""
    if not cfg["private"]:
        return os.path.dirname(cfg["program"])  # rlimits level: the host temporary dir
    with open(cfg["program"], "rb") as f:  # read before /tmp is hidden
        source = f.read()
    private_view(cfg["keep"], cfg["limits"]["disk_mb"], cfg["uid"] is not None)
    os.mkdir(WORKDIR, 0o700)
    with open(os.path.join(WORKDIR, "main.py"), "wb") as f:
        f.write(source)
    if cfg["uid"] is not None:
        os.chown(WORKDIR, cfg["uid"], cfg["uid"])
    return WORKDIR


def start_candidate(cfg: dict, workdir: str) -> None:
    """In the forked child: confine this process, then become Python running main.py."""
    lim = cfg["limits"]
    cpu = lim["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * MB,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["disk_mb"] * MB,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(workdir)
    # No setuid binary may raise privileges again; an empty bounding set means an exec as
    # (namespace) root gets no capabilities, so the candidate cannot undo our mounts.
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if cfg["private"] or cfg["uid"] is not None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
        for cap in range(last_cap + 1):
            _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    if cfg["uid"] is not None:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    env = dict(cfg["env"], HOME=workdir, TMPDIR="/tmp" if cfg["private"] else workdir)
    python = cfg["python"]
    os.execve(python, [python, "-E", "-s", "-B", "main.py"], env)


def _live_pids_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/status") as f:
                status = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
        except (OSError, ValueError):
            continue
        if status["Uid"].split()[0] == str(uid) and not status["State"].strip().startswith("Z"):
            pids.append(int(name))
    return pids


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (used without a PID namespace, where a process that
    left the session would outlive the run). A child switched to that uid sends SIGKILL
    to -1, which reaches exactly the processes of its own uid; repeated while any is
    alive, since one may have forked in between."""
    for _ in range(100):
        if not _live_pids_of(uid):
            return
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                if os.getuid() == uid != 0 and os.geteuid() == uid:  # never kill(-1) as root
                    os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)


class _Deadline(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Deadline


def main() -> None:
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    status_fd = cfg["status_fd"]
    os.set_inheritable(status_fd, False)  # closed in the candidate by its exec

    def report(kind: str, value: object = "") -> None:
        line = f"{kind} {value}".replace("\n", " ").strip()
        os.write(status_fd, line.encode(errors="replace") + b"\n")

    try:
        workdir = prepare(cfg)
    except Exception as e:
        report("error", f"sandbox set-up failed: {type(e).__name__}: {e}")
        return
    pid = os.fork()
    if pid == 0:
        try:
            start_candidate(cfg, workdir)
        except BaseException as e:  # noqa: BLE001 - anything here is a set-up failure
            hint = ""
            if isinstance(e, PermissionError) and cfg["uid"] is not None:
                hint = (" (an unprivileged user cannot run this interpreter: pass python= "
                        "one that every user can run, or use a namespace level)")
            report("error", f"cannot start the program: {type(e).__name__}: {e}{hint}")
        finally:
            os._exit(127)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, cfg["deadline_s"])
    try:
        while True:  # as PID 1 we also reap orphans re-parented to us
            got, status = os.waitpid(-1, 0)
            if got == pid:
                break
        signal.setitimer(signal.ITIMER_REAL, 0)
        if os.WIFSIGNALED(status):
            report("signal", os.WTERMSIG(status))
        else:
            report("exit", os.WEXITSTATUS(status))
    except _Deadline:
        report("timeout")
        os.kill(pid, signal.SIGKILL)
    finally:
        if not cfg["private"]:  # no PID namespace to end the candidate's leftovers
            if cfg["uid"] is not None:
                kill_uid(cfg["uid"])
            os.killpg(0, signal.SIGKILL)  # our session's group, this process included
    os._exit(0)  # skip interpreter shutdown: nothing to flush, and the namespace ends sooner


if __name__ == "__main__":
    main()
