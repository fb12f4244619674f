"""The lock file pins what CI installs, and the audit of it cannot pass by skipping.

The audit runs as CI does (`python3 .ci/audit.py LOCK`, a real process) against a real HTTP
stand-in for the PyPI JSON API on 127.0.0.1, so no test depends on the network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
AUDIT = REPO / ".ci" / "audit.py"


def _locked() -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) from requirements.lock."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            entries[current] = (pin.group(2), 0)
        elif current and "--hash=sha256:" in line:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


class TestLock:
    def test_every_declared_dependency_is_pinned_within_its_range_with_hashes(self) -> None:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        declared = project["dependencies"] + project["optional-dependencies"]["test"]
        locked = _locked()
        assert len(locked) > 50
        for spec in map(Requirement, declared):
            name = canonicalize_name(spec.name)
            assert name in locked, f"{spec} is declared but not in requirements.lock: re-lock"
            version, hashes = locked[name]
            assert spec.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version}, outside {spec}: re-lock"
            )
        assert all(hashes > 0 for _, hashes in locked.values())

    def test_the_package_itself_is_not_in_the_lock(self) -> None:
        # CI installs it with `pip install --no-deps -e .` after the hash-checked lock.
        assert "multistage-rag" not in _locked()


# --- the audit against a stand-in index ----------------------------------------------------------
INDEX: dict[str, tuple[int, dict | None]] = {
    # a version the index serves per-version documents for (as PyPI itself does)
    "/pypi/oldlib/1.0/json": (
        200,
        {
            "info": {"version": "1.0"},
            "vulnerabilities": [{"id": "PYSEC-1", "fixed_in": ["1.1"], "withdrawn": None}],
        },
    ),
    # per-version documents missing (this CI's index): the project document, latest release
    "/pypi/fresh/json": (200, {"info": {"version": "2.0"}, "vulnerabilities": []}),
    "/pypi/stale/json": (200, {"info": {"version": "5.0"}, "vulnerabilities": []}),
    "/pypi/broken/json": (
        200,
        {
            "info": {"version": "3.0"},
            "vulnerabilities": [
                {"id": "GHSA-x", "fixed_in": [], "withdrawn": None},
                {"id": "GHSA-old", "fixed_in": [], "withdrawn": "2025-01-01T00:00:00Z"},
            ],
        },
    ),
    "/pypi/flaky/json": (503, None),
}


class _Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = INDEX.get(self.path, (404, None))
        payload = json.dumps(body or {"message": "Not Found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    server.shutdown()
    server.server_close()


def audit(tmp_path: Path, index_url: str, lock: str, *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / "requirements.lock"
    path.write_text(lock)
    return subprocess.run(
        [sys.executable, str(AUDIT), str(path), "--index-url", index_url, *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


HASH = "    --hash=sha256:" + "0" * 64 + "\n"


class TestAudit:
    def test_clean_latest_versions_pass(self, tmp_path: Path, index_url: str) -> None:
        run = audit(tmp_path, index_url, "fresh==2.0 \\\n" + HASH + "    # via x\n")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1 without known vulnerabilities, 0 vulnerable" in run.stdout

    def test_a_vulnerable_version_fails_by_either_document(
        self, tmp_path: Path, index_url: str
    ) -> None:
        run = audit(tmp_path, index_url, "oldlib==1.0 \\\n" + HASH + "broken==3.0 \\\n" + HASH)
        assert run.returncode == 1
        assert "VULNERABLE   oldlib==1.0: PYSEC-1 (fixed in 1.1)" in run.stdout
        assert "GHSA-x (fixed in no release yet)" in run.stdout
        assert "GHSA-old" not in run.stdout  # withdrawn advisories do not count

    def test_a_version_behind_the_latest_is_reported_not_checked_never_passed(
        self, tmp_path: Path, index_url: str
    ) -> None:
        lock = "fresh==2.0\nstale==4.2\n"
        run = audit(tmp_path, index_url, lock)
        assert run.returncode == 0
        assert "NOT CHECKED  stale==4.2: the index's advisories are for 5.0" in run.stdout
        assert "1 not checked" in run.stdout
        assert audit(tmp_path, index_url, lock, "--strict").returncode == 1

    def test_an_index_that_cannot_answer_fails_the_audit(
        self, tmp_path: Path, index_url: str
    ) -> None:
        for lock in ("flaky==1.0\n", "unknown-pkg==1.0\n"):
            run = audit(tmp_path, index_url, "fresh==2.0\n" + lock)
            assert run.returncode == 2, run.stdout
            assert "1 could not be asked" in run.stdout
        closed = audit(tmp_path, "http://127.0.0.1:9/pypi", "fresh==2.0\n")  # nothing listens
        assert closed.returncode == 2
        assert "ERROR        fresh==2.0: URLError" in closed.stdout

    def test_reads_the_real_lock(self) -> None:
        sys.path.insert(0, str(AUDIT.parent))
        try:
            import audit as audit_module  # .ci/audit.py
        finally:
            sys.path.pop(0)
        pins = {canonicalize_name(n): v for n, v in audit_module.pins(LOCK.read_text())}
        assert pins == {name: version for name, (version, _) in _locked().items()}
