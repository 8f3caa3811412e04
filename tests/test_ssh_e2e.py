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
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import (
    SAVE_TIMEOUT,
    TMUX,
    Term,
    at,
    free_port,
    installed_command,
    isolated_env,
    processes_with,
    wait,
    write_scenario,
)
from tui_trainer.engine.checkpoint import read_checkpoint

SSHD = next(
    (p for p in ("/usr/sbin/sshd", shutil.which("sshd")) if p and os.access(p, os.X_OK)), None
)
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
CMD = installed_command()

pytestmark = pytest.mark.skipif(
    None in (SSHD, SSH, SSH_KEYGEN, TMUX, CMD) or not sys.platform.startswith("linux"),
    reason="needs the OpenSSH server and client, tmux and the installed tui-trainer (Linux)",
)

START_TIMEOUT = 20.0  # sshd up, the login, the app's first screen


# ------------------------------------------------------------------ sshd


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
            port = free_port()
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


def remote_env(root: Path) -> str:
    """``K=V ...`` for ``env`` on the server: the isolated XDG dirs under
    ``root``, a terminal type, and the installed command's directory on PATH."""
    assert CMD is not None
    env = {
        **isolated_env(root),
        "TERM": "xterm-256color",
        "PATH": f"{Path(CMD).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())


# ------------------------------------------------------------------ the test


def test_dropped_ssh_connection_saves_recovery(tmp_path: Path, sshd: SshServer) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scenario = write_scenario(work / "sshrun.toml")
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

    assigns = remote_env(tmp_path)  # XDG_STATE_HOME is `state`
    # exec: the app itself owns the remote terminal, so its hang-up reaches it
    remote = (
        f"cd {shlex.quote(str(work))} && exec env {assigns} "
        f"{shlex.quote(CMD)} {shlex.quote(str(scenario))}"
    )
    local = shlex.join([*sshd.ssh_args(), "-tt", "127.0.0.1", remote])
    term = Term(f"exec {local}", "ssh")  # the pane's process is the ssh client
    try:
        term.wait_for(
            at(0, "start"),
            START_TIMEOUT,
            why=f"--- sshd log ---\n{sshd.log_text()}",
        )
        client = term.pane_pid()
        assert Path(f"/proc/{client}/comm").read_text().strip() == "ssh"
        remote_apps = processes_with(str(scenario))
        assert len(remote_apps) == 1, remote_apps  # the app, on the server's side

        for label in ("FORWARD", "LOSS", "BACKPROP"):
            term.send("n")
            term.wait_for(at(0, label))
        term.send("n")
        term.wait_for(at(0, "UPDATE"))
        term.send("f")
        term.wait_for(at(1, "UPDATE"))
        term.send("n")
        term.wait_for(at(2, "FORWARD"))

        recovery = state / "tui-trainer" / "recovery"
        assert not recovery.exists() or not any(recovery.iterdir())

        # Drop the link: the client dies without a word to the server.
        os.kill(client, signal.SIGKILL)

        def saved() -> bool:
            return recovery.is_dir() and any(p.suffix == ".npz" for p in recovery.iterdir())

        wait(
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
        wait(
            lambda: not any(p in processes_with(str(scenario)) for p in remote_apps),
            SAVE_TIMEOUT,
            f"the remote app {remote_apps} is still running after the hang-up",
        )
    finally:
        term.kill()
        for pid in processes_with(str(scenario)):  # only the app this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_a_lesson_over_ssh_at_80x24(tmp_path: Path, sshd: SshServer) -> None:
    """``tui-trainer learn 2`` on the server through ``ssh -tt`` at 80x24: the
    question dialog takes its answer, the lesson's until fires on a key, the
    run stops where the lesson moves on, the switch to new data is said, and
    ``q`` ends the remote app with status 0."""
    work = tmp_path / "work"
    work.mkdir()
    assigns = remote_env(tmp_path)
    remote = (
        f"cd {shlex.quote(str(work))} && env {assigns} {shlex.quote(CMD)} learn 2; echo EXITED $?"
    )
    local = shlex.join([*sshd.ssh_args(), "-tt", "127.0.0.1", remote])
    term = Term(f"{local}; sleep 60", "sshlesson")
    try:
        term.wait_for(r"step 1/16", START_TIMEOUT, why=f"--- sshd log ---\n{sshd.log_text()}")
        term.send("]")
        term.wait_for(r"step 2/16")
        term.send("]")
        term.wait_for(r"Predict first")
        term.send("2")  # "0.5"
        term.wait_for(r"That's right")
        term.send("]")
        term.wait_for(r"step 4/16")
        term.send("n")
        term.send("n")
        term.wait_for(r"step 5/16")  # LOSS: the until fired
        term.send("c")
        screen = term.wait_for(r"step 6/16", 60)
        assert "epoch 5/30" in screen
        term.send("]")
        screen = term.wait_for(r"switched to new data")
        assert "gauss (3 classes" in " ".join(screen.split())
        for line in screen.splitlines():
            assert len(line.rstrip()) <= 80
        term.send("q")
        term.wait_for(r"EXITED 0", START_TIMEOUT)
    finally:
        term.kill()
