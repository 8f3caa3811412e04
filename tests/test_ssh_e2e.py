"""End to end over a real SSH connection: the app survives a dropped link.

The test starts its own OpenSSH server on a free loopback port, with a
throwaway host key and user key made in ``tmp_path`` (it never reads or
changes the machine's ssh configuration or anyone's keys). In tmux it runs
``ssh -tt ... tui-trainer <scenario>``, steps through the app, then drops the
connection by killing the ssh client with SIGKILL (no goodbye to the server):
the server hangs up the remote terminal, the remote app gets SIGHUP, and it
must write its recovery checkpoint to ``$XDG_STATE_HOME`` and exit.

Skipped when the OpenSSH server or client, tmux or the installed command is
missing (``.ci/run`` installs them where it can).
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_trainer.engine.checkpoint import read_checkpoint

SSHD = next(
    (p for p in ("/usr/sbin/sshd", shutil.which("sshd")) if p and os.access(p, os.X_OK)), None
)
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
TMUX = shutil.which("tmux")


def _installed_command() -> str | None:
    """The console script next to this interpreter (not a version-manager shim)."""
    here = Path(sys.executable).parent / "tui-trainer"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("tui-trainer")


CMD = _installed_command()

pytestmark = pytest.mark.skipif(
    None in (SSHD, SSH, SSH_KEYGEN, TMUX, CMD) or not sys.platform.startswith("linux"),
    reason="needs the OpenSSH server and client, tmux and the installed tui-trainer (Linux)",
)

SCENARIO = """\
name = "sshrun"
seed = 0

[data]
kind = "xor"
n_samples = 200
noise = 0.0
val_fraction = 0.2

[model]
hidden = [4]
activation = "tanh"

[training]
lr = 0.1
batch_size = 10
epochs = 20
"""

START_TIMEOUT = 20.0  # sshd up, the login, the app's first screen
KEY_TIMEOUT = 5.0
SAVE_TIMEOUT = 10.0


# ------------------------------------------------------------------ sshd


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    assert SSH_KEYGEN is not None
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "tui-trainer-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


class SshServer:
    """A private ``sshd -D -e`` on 127.0.0.1 that lets only the test's key in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = root / "host_key"
        self.user_key = root / "user_key"
        _keygen(self.host_key)
        _keygen(self.user_key)
        auth = root / "authorized_keys"
        auth.write_text(self.user_key.with_suffix(".pub").read_text(encoding="utf-8"))
        auth.chmod(0o600)
        self.log = root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        if os.getuid() == 0:
            # sshd's privilege-separation directory (made by the package's service
            # unit at boot, which a container never runs).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def _config(self, port: int) -> Path:
        conf = self.root / "sshd_config"
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "StrictModes no",
            "UsePAM no",
            f"PermitRootLogin {'yes' if os.getuid() == 0 else 'no'}",
            f"AllowUsers {self.user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "LogLevel VERBOSE",
        ]
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    def start(self) -> None:
        assert SSHD is not None
        for _attempt in range(3):  # the free port may be taken in between: retry
            port = _free_port()
            conf = self._config(port)
            check = subprocess.run(
                [SSHD, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30
            )
            assert check.returncode == 0, f"sshd rejects the test config:\n{check.stderr}"
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        self.port = port
                        return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise AssertionError(f"sshd did not start:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def ssh_args(self) -> list[str]:
        assert SSH is not None
        return [
            SSH,
            "-F",
            "/dev/null",  # no user ssh configuration
            "-i",
            str(self.user_key),
            "-p",
            str(self.port),
            "-l",
            self.user,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
        ]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer(tmp_path / "sshd")
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ terminal


class Term:
    """A detached 80x24 tmux session whose pane runs one command (``exec``)."""

    def __init__(self, command: str) -> None:
        self.socket = f"tui-trainer-ssh-{uuid.uuid4().hex[:12]}"
        self.target = "main"
        self._tmux("new-session", "-d", "-s", self.target, "-x", "80", "-y", "24", command)

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target, check=False).stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.target, "-l", key)

    def wait_for(self, pattern: str, timeout: float = KEY_TIMEOUT, why: str = "") -> str:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if rx.search(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{text}\n{why}")

    def pane_pid(self) -> int:
        return int(self._tmux("list-panes", "-t", self.target, "-F", "#{pane_pid}").stdout)

    def kill(self) -> None:
        self._tmux("kill-server", check=False)


def _processes_with(arg: str) -> list[int]:
    """Processes with ``arg`` as one of their command-line arguments (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if arg.encode() in args:
            found.append(int(cmdline.parent.name))
    return found


def _wait(cond: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


# ------------------------------------------------------------------ the test


def test_dropped_ssh_connection_saves_recovery(tmp_path: Path, sshd: SshServer) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scenario = work / "sshrun.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    state = tmp_path / "state"

    # The login works at all (a clear message if not, rather than a blank pane).
    probe = subprocess.run(
        [*sshd.ssh_args(), "127.0.0.1", "echo ssh-ok"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0 and "ssh-ok" in probe.stdout, (
        f"ssh login failed ({probe.returncode}): {probe.stderr}\n--- sshd log ---\n"
        f"{sshd.log_text()}"
    )

    assert CMD is not None
    env = {
        "XDG_STATE_HOME": str(state),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no user keymap
        "TERM": "xterm-256color",
        "PATH": f"{Path(CMD).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # exec: the app itself owns the remote terminal, so its hang-up reaches it
    remote = (
        f"cd {shlex.quote(str(work))} && exec env {assigns} "
        f"{shlex.quote(CMD)} {shlex.quote(str(scenario))}"
    )
    local = shlex.join([*sshd.ssh_args(), "-tt", "127.0.0.1", remote])
    term = Term(f"exec {local}")  # the pane's process is the ssh client
    try:
        term.wait_for(
            r"sshrun \| epoch 1/20 \| step 0 \| batch 1/16 \| phase start",
            START_TIMEOUT,
            why=f"--- sshd log ---\n{sshd.log_text()}",
        )
        client = term.pane_pid()
        assert Path(f"/proc/{client}/comm").read_text().strip() == "ssh"
        remote_apps = _processes_with(str(scenario))
        assert len(remote_apps) == 1, remote_apps  # the app, on the server's side

        for label in ("FORWARD", "LOSS", "BACKPROP"):
            term.send("n")
            term.wait_for(rf"step 0 \| batch 1/16 \| phase {label}\b")
        term.send("n")
        term.wait_for(r"step 1 \| batch 2/16 \| phase UPDATE\b")
        term.send("f")
        term.wait_for(r"step 2 \| batch 3/16 \| phase UPDATE\b")
        term.send("n")
        term.wait_for(r"step 2 \| batch 3/16 \| phase FORWARD\b")

        recovery = state / "tui-trainer" / "recovery"
        assert not recovery.exists() or not any(recovery.iterdir())

        # Drop the link: the client dies without a word to the server.
        os.kill(client, signal.SIGKILL)

        def saved() -> bool:
            return recovery.is_dir() and any(p.suffix == ".npz" for p in recovery.iterdir())

        _wait(
            saved,
            SAVE_TIMEOUT,
            f"no recovery checkpoint in {recovery} within {SAVE_TIMEOUT} s\n"
            f"--- sshd log ---\n{sshd.log_text()}",
        )
        files = [p for p in recovery.iterdir() if p.suffix == ".npz"]
        assert len(files) == 1 and files[0].name.startswith("sshrun-"), files
        arrays = read_checkpoint(files[0])
        assert int(arrays["resume_position"]) == 2 * 6 + 2  # step 2, end of forward
        # ... and the remote app has exited (nothing left running on the server)
        _wait(
            lambda: not any(p in _processes_with(str(scenario)) for p in remote_apps),
            SAVE_TIMEOUT,
            f"the remote app {remote_apps} is still running after the hang-up",
        )
    finally:
        term.kill()
        for pid in _processes_with(str(scenario)):  # only the app this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
