"""The suite's own guard: a test that hangs fails alone, named, with the place it waits, and the session
goes on (and so stops its servers). Under eventlet, pytest-timeout alone would end the whole process."""
import subprocess
import sys
import textwrap

from gongwen_local.stack import ROOT

HANGING = textwrap.dedent('''
    import socket
    import subprocess
    import time

    import pytest

    @pytest.mark.timeout(1)
    def test_waits_on_a_socket_forever():
        mine, theirs = socket.socketpair()
        mine.recv(1)

    @pytest.mark.timeout(1)
    def test_waits_on_a_child_process():
        subprocess.run(["sleep", "60"])

    def test_after_them_runs_at_once():
        started = time.monotonic()
        time.sleep(0.2)
        assert time.monotonic() - started < 1.0
''')


def test_a_hanging_test_fails_alone_and_named_and_the_session_goes_on(tmp_path):
    (tmp_path / "test_hangs.py").write_text(HANGING)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-o", "addopts=", str(tmp_path / "test_hangs.py")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "2 failed, 1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Timeout >1s in test_hangs.py::test_waits_on_a_socket_forever, waiting in:" in done.stdout
    assert "mine.recv(1)" in done.stdout  # the test's own line, not the hub's or the timer's
    assert "Timeout >1s in test_hangs.py::test_waits_on_a_child_process" in done.stdout
