"""A warm ``recover`` for the tests: the installed CLI, imported once, forked once per command.

Most of the suite's time used to be ``recover`` subprocesses importing SQLAlchemy, web3, bitcoinlib
and solders before doing a few milliseconds of work.  A server process per test process imports the
installed package once (nothing else: importing reads no setting and opens nothing) and forks a
child for each command.  The child is a separate process like a ``recover`` subprocess: its own
environment (replaced wholesale), working directory, argv, stdin from /dev/null, stdout and stderr
to files, and its exit status is the command's; it runs the console script's entry point
(``cli:main``).  What it shares with its siblings is only what the imports built.

``clihelp.run`` uses it when ``RECOVER_TEST_FORK`` is not ``0`` and the server is free; a second
command at the same time from another thread (race tests) gets a real subprocess.  Tests that start
``recover`` themselves (workers, concurrent exports) always use real subprocesses.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

PRELOAD = ("cli", "recover", "recover.api", "recover.casework.verification", "recover.casework.execution", "recover.casework.approvals",
           "recover.services.scanning", "recover.services.worker", "recover.services.appeals", "recover.casework.offline", "recover.web.app",
           "chains.evm.adapter", "chains.utxo.adapter", "chains.solana.adapter")


# -- the server (its own process) -----------------------------------------------------------------
def serve() -> None:
    ctl_in = os.fdopen(os.dup(0), "rb", buffering=0)
    ctl_out = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # nothing the imports print reaches the control pipe
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as cli.main sets it before any model
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    sys.stdout.flush()
    sys.stderr.flush()
    ctl_out.write(b'{"ready": true}\n')
    buf = b""
    while True:
        while b"\n" not in buf:
            part = ctl_in.read(65536)
            if not part:
                return
            buf += part
        line, buf = buf.split(b"\n", 1)
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            ctl_in.close()
            ctl_out.close()
            _child(req)  # never returns
        ctl_out.write(json.dumps({"pid": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        ctl_out.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _child(req: dict) -> None:
    code = 1
    try:
        os.setpgid(0, 0)  # a timeout kills the command and whatever it started
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(os.open(req["out"], os.O_WRONLY | os.O_TRUNC), 1)
        os.dup2(os.open(req["err"], os.O_WRONLY | os.O_TRUNC), 2)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv = [req["exe"], *req["argv"]]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import cli

        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                sys.stderr.write(f"{exc.code}\n")
                code = 1
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback on stderr, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# -- the client (in the test process) -------------------------------------------------------------
class _Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd="/", env={**os.environ})
        self.lock = threading.Lock()
        self.buf = b""
        if self._line(timeout=120).get("ready") is not True:
            raise RuntimeError("the recover fork server did not start")

    def _line(self, timeout: float | None) -> dict:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("recover", timeout)
            part = os.read(fd, 65536)
            if not part:
                raise RuntimeError("the recover fork server died")
            self.buf += part
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, exe: str, argv: list[str], env: dict, cwd: str, timeout: float, out: str, err: str) -> int:
        req = {"exe": exe, "argv": argv, "env": env, "cwd": cwd, "out": out, "err": err}
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        pid = self._line(timeout=60)["pid"]
        try:
            return self._line(timeout=timeout)["code"]
        except subprocess.TimeoutExpired:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._line(timeout=60)
            raise


_server: _Server | None = None
_server_pid: int | None = None
_start_lock = threading.Lock()


def run(exe: str, argv: list[str], *, env: dict, cwd: str | None, timeout: float) -> tuple[int, str, str] | None:
    """(exit code, stdout, stderr) of ``recover ARGV`` run by a warm child, or None when the server
    is busy with another thread's command (the caller then starts a real subprocess)."""
    import tempfile

    global _server, _server_pid
    with _start_lock:
        if _server is None or _server_pid != os.getpid() or _server.proc.poll() is not None:
            _server, _server_pid = _Server(), os.getpid()
        server = _server
    if not server.lock.acquire(blocking=False):
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="recover-run-") as tmp:
            out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
            for p in (out, err):
                Path(p).touch()
            code = server.run(exe, argv, env, os.path.abspath(cwd or os.getcwd()), timeout, out, err)
            return code, Path(out).read_text(), Path(err).read_text()
    finally:
        server.lock.release()


if __name__ == "__main__":
    serve()
