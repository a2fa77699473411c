"""A project-local PostgreSQL cluster: all state under base_dir, loopback only."""
import contextlib
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
from psycopg2 import errors, sql

from . import prepare_dir, service_user
from .ports import free_port


def _bin_dir() -> Path:
    """Newest installed server, e.g. /usr/lib/postgresql/15/bin (Debian layout)."""
    dirs = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").exists()]
    if not dirs:
        raise RuntimeError("no PostgreSQL server found under /usr/lib/postgresql")
    return max(dirs, key=lambda d: float(d.parent.name))


class PostgresCluster:
    def __init__(self, base_dir: Path, port: int | None = None):
        self.base_dir = Path(base_dir).resolve()
        self.port = port or free_port()
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "run"
        self.log_file = self.base_dir / "postgres.log"
        self.bin_dir = _bin_dir()
        # PostgreSQL refuses to run as root.
        self._as = service_user("postgres")
        self.pid: int | None = None  # the postmaster
        self._server: subprocess.Popen | None = None

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{dbname}"

    def is_running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    def start(self, timeout: float = 60) -> None:
        if self.is_running():
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        prepare_dir(self.base_dir, self._as)
        if (self.data_dir / "PG_VERSION").exists():  # keep data across restarts
            # A postmaster left by a crashed run would hold the data dir.
            if self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0:
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
        else:
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-locale", "--no-instructions")
            with open(self.data_dir / "postgresql.conf", "a") as conf:
                conf.write("\ninclude_if_exists = 'gongwen.conf'\n")
        # Rewritten on every start so the port and paths follow this object.
        (self.data_dir / "gongwen.conf").write_text(
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{_conf_str(self.socket_dir)}'\n"
            # Many service processes, each with its own connection pool.
            "max_connections = 300\n"
        )
        prepare_dir(self.base_dir, self._as)
        # The postmaster runs as our child rather than via `pg_ctl start`,
        # which daemonizes it out of our reach (and leaves its zombie to an
        # init that may be slow to reap it).
        with open(self.log_file, "ab") as log:
            self._server = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                cwd=self.base_dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, **self._as,
            )
        self.pid = self._server.pid
        try:
            self._await_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 60) -> None:
        if self._server is None:
            return
        if self._server.poll() is None:
            # Fast shutdown: roll back open transactions, disconnect clients.
            r = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast",
                          "-w", "-t", str(int(timeout)), check=False)
            try:
                self._server.wait(timeout if r.returncode == 0 else 0.1)
            except subprocess.TimeoutExpired:
                # Immediate shutdown: the postmaster SIGQUITs its backends, so
                # none outlive it (a plain SIGKILL would orphan them).
                self._server.send_signal(signal.SIGQUIT)
                try:
                    self._server.wait(10)
                except subprocess.TimeoutExpired:
                    self._server.kill()
                    self._server.wait()
        self._server = self.pid = None

    def __enter__(self) -> "PostgresCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)

    def create_database(self, name: str) -> None:
        with self._admin() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except errors.DuplicateDatabase:  # created concurrently
                pass

    def drop_database(self, name: str) -> None:
        with self._admin() as cur:
            # FORCE terminates the database's connections first.
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals -----------------------------------------------------------

    @contextlib.contextmanager
    def _admin(self):
        conn = self.connect()
        conn.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
        try:
            yield conn.cursor()
        finally:
            conn.close()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([str(self.bin_dir / tool), *args], cwd=self.base_dir,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, **self._as)
        if check and r.returncode:
            raise self._failure(f"{tool} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def _await_ready(self, deadline: float) -> None:
        while True:
            if self._server.poll() is not None:
                raise self._failure(f"postgres exited with code {self._server.returncode}")
            try:
                # The timeout matters when someone else holds the port: the
                # TCP connect succeeds and then nobody ever answers.
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                 dbname="postgres", connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise self._failure("timed out waiting for connections")
            time.sleep(0.1)

    def _failure(self, what: str) -> RuntimeError:
        tail = ""
        if self.log_file.exists():
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-40:])
        return RuntimeError(f"PostgreSQL at {self.data_dir}: {what}\n--- {self.log_file} ---\n{tail}")


def _conf_str(value) -> str:
    return str(value).replace("'", "''")
