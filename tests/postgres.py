"""A real PostgreSQL on loopback for the DuckLake tests: initdb + pg_ctl into a temp folder (as the `postgres`
user when run as root), stopped at the end. Skips only when PostgreSQL's binaries are not installed."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from app.devserver import free_port


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb (Debian's layout), else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass(frozen=True)
class Postgres:
    bin: Path
    port: int
    user: str
    as_user: tuple[str, ...]   # the command prefix that runs as the cluster's owner
    root: Path                 # the cluster's folder: data/, the server's log and its socket

    def stop(self) -> None:
        """Stop the server at once, as a crash or a power cut would (`pg_ctl -m immediate`): sessions are cut,
        their advisory locks and open transactions gone."""
        self._ctl("-m", "immediate", "stop")

    def start(self) -> None:
        """Start the server again (after `stop`), on the same port; returns once it accepts connections."""
        self._ctl("-l", str(self.root / "log"), "-o", f"-p {self.port} -k {self.root} "
                  "-c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def psql(self, dbname: str, sql: str) -> None:
        """Run SQL in a database as the superuser."""
        subprocess.run([*self.as_user, str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                        self.user, "-d", dbname, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)

    def require_password(self, dbname: str, role: str) -> None:
        """From now on `role` logs in to `dbname` over TCP with its password only (scram-sha-256; every
        other login stays trusted)."""
        hba = self.root / "data" / "pg_hba.conf"
        hba.write_text(f"host {dbname} {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._ctl("reload")

    @contextmanager
    def cut_off(self) -> Iterator[None]:
        """While inside, the server is cut off the network, as by a partition or a host that died: every TCP
        packet to or from its port on loopback is dropped (no answer, no reset). Needs `firewall()`."""
        tool = firewall()
        if tool is None:
            raise RuntimeError("cutting a server off the network needs root and iptables (apt-get install iptables)")
        rules = [["INPUT", "-i", "lo", "-p", "tcp", f"--{end}", str(self.port), "-m", "comment", "--comment",
                  "balkanwatch test: a catalog cut off", "-j", "DROP"] for end in ("dport", "sport")]
        try:
            for rule in rules:
                subprocess.run([tool, "-w", "-I", *rule], check=True, capture_output=True)
            yield
        finally:
            for rule in rules:
                subprocess.run([tool, "-w", "-D", *rule], capture_output=True)   # absent if its insert failed

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-w", *args],
                       check=True, capture_output=True)

    def createdb(self, name: str) -> str:
        """Create a database; returns its libpq connection string."""
        subprocess.run([*self.as_user, str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", self.user, name], check=True, capture_output=True)
        return f"dbname={name} host=127.0.0.1 port={self.port} user={self.user}"


def firewall() -> str | None:
    """An iptables that works here (as root, on a kernel with netfilter), else None: `Postgres.cut_off`."""
    if os.geteuid() != 0:
        return None
    for name in ("iptables-legacy", "iptables"):
        tool = shutil.which(name)
        if tool and subprocess.run([tool, "-w", "-S", "INPUT"], capture_output=True).returncode == 0:
            return tool
    return None


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises SystemExit in the main thread, so `finally` blocks run: the default
    action ends the process at once, and a benchmark stopped that way left its PostgreSQL running. Only
    where SIGTERM has its default action (a handler someone installed is left alone) and in the main thread
    (the only one a handler can be installed from)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """Start a throwaway cluster (trust auth on 127.0.0.1 only), yield it, stop it and delete its folder (also
    when the process is sent SIGTERM: `sigterm_unwinds`)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb): apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="bw-pg-"))
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:   # initdb refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ("runuser", "-u", "postgres", "--")
    data, port = root / "data", free_port()
    with sigterm_unwinds():
        yield from _cluster(bin_dir, root, data, port, as_user)


def _cluster(bin_dir: Path, root: Path, data: Path, port: int, as_user: tuple[str, ...]) -> Iterator[Postgres]:
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        pg = Postgres(bin_dir, port, "postgres", as_user, root)
        pg.start()
        try:
            yield pg
        finally:
            with suppress(subprocess.CalledProcessError):   # already stopped (a test's stop() without start())
                pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
