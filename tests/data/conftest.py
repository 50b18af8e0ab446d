"""Fixtures of the data tests: the local hosts (hosts_server.py), started once per session."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_hosts import Server, build_tree

from sgt_eval.data.download import Http
from sgt_eval.data.sources import BASES


@pytest.fixture(scope="session")
def _running(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tree = tmp_path_factory.mktemp("hosts")
    build_tree(tree, shared_data)
    script = Path(__file__).with_name("hosts_server.py")
    proc = subprocess.Popen([sys.executable, str(script), str(tree)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        yield Server(f"http://127.0.0.1:{port}", tree)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server(_running: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The local hosts, with every base URL pointed at them and a fresh request log."""
    for name, (env, _) in BASES.items():
        monkeypatch.setenv(env, f"{_running.url}/{name}")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    _running.clear()
    return _running


@pytest.fixture
def http(tmp_path: Path) -> Iterator[Http]:
    """A client with a short back-off, so retry tests take milliseconds."""
    with Http(hint=f"fetch on a connected machine and copy {tmp_path}", backoff=0.01, timeout=10) as client:
        yield client


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
