"""Project-local RabbitMQ / PostgreSQL nodes for development and tests.

Shared helper: both servers refuse (PostgreSQL) or are not meant (RabbitMQ)
to run as root, so when we are root their processes are started as the
Debian service user, which must own its directories and be able to reach them.
"""
import os
import pwd
import stat
from pathlib import Path


def service_user(name: str) -> dict:
    """Popen kwargs that drop root to the service user `name`; {} when not root."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(name)
    # extra_groups=[] so the server does not keep root's supplementary groups.
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def prepare_dir(path: Path, as_user: dict) -> None:
    """Create `path`, hand it to the service user and make its ancestors traversable."""
    path.mkdir(parents=True, exist_ok=True)
    if not as_user:
        return
    uid, gid = as_user["user"], as_user["group"]
    # Re-chown on every start: files may have been created by root meanwhile.
    for p in (path, *path.rglob("*")):
        os.lchown(p, uid, gid)
    # 0700 ancestors (mkdtemp, /tmp/pytest-of-root, /root) would lock the
    # service user out; only the search bit is added, never read.
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
