"""`make hub-check`: a real JupyterHub on loopback runs lesson 00 for several learners at the same time.

What a class on one server does, end to end:

1. The instructor fills a shared layer once with `make shared` (here with lesson 00 only): the lesson runs with
   `TGAI_HOME` pointing at it, then everything in it is made read-only.
2. JupyterHub starts on 127.0.0.1 with `configurable-http-proxy` from npm (`hub/package-lock.json`), the
   testing-only `DummyAuthenticator` and `SimpleLocalProcessSpawner` (one process per learner, each with its
   own home folder), and every learner's kernel gets `TGAI_SHARED`, `TGAI_THREADS=1` and `TGAI_OFFLINE=1`.
3. Through the hub's REST API (a service token) the check creates the learners and starts their servers.
4. In each learner's server it opens lesson 00 (a Jupyter session, as JupyterLab does), sends every code
   cell over the kernel's websocket, and waits for each reply: every learner at once.

It passes when every learner's every cell replies `ok`, each kernel reports the thread cap, each learner got a
cache home of their own, and the shared layer is byte for byte what the instructor left. Everything runs
under `build/hub-check/` and every process it starts is stopped by PID at the end.

Usage: `python hub/check.py [--users 4]` (the Makefile installs `hub/requirements.txt` and the proxy first).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LESSON = "00_setup.ipynb"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
WORK = ROOT / "build" / "hub-check"
SERVICE = "hub-check"
CELL_TIMEOUT = 900  # seconds for one cell while every learner computes on the same cores


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _snapshot(folder: pathlib.Path) -> dict:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def fill_shared_layer(shared: pathlib.Path) -> dict:
    """Fill `shared` as the instructor would (`make shared`, lesson 00 only) and return its snapshot."""
    environment = {**os.environ, "TGAI_OFFLINE": "1"}
    subprocess.run(["make", "--no-print-directory", "shared", f"SHARED={shared}", f"LESSONS={LESSON}"], cwd=ROOT, env=environment, check=True)
    writable = [path for path in [shared, *shared.rglob("*")] if path.stat().st_mode & 0o222]
    if writable:
        raise RuntimeError(f"`make shared` left {len(writable)} path(s) writable in {shared}, e.g. {writable[0]}")
    return _snapshot(shared)


def write_config(port: int, hub_port: int, token: str, shared: pathlib.Path) -> pathlib.Path:
    """The hub's configuration: the same settings `docs/hub.md` gives an instructor, on loopback."""
    users = WORK / "users"
    settings = {
        "JupyterHub.ip": "127.0.0.1",
        "JupyterHub.port": port,
        "JupyterHub.hub_ip": "127.0.0.1",
        "JupyterHub.hub_port": hub_port,
        "JupyterHub.db_url": f"sqlite:///{WORK / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(WORK / "jupyterhub_cookie_secret"),
        "JupyterHub.authenticator_class": "dummy",
        "JupyterHub.spawner_class": "simple",
        "ConfigurableHTTPProxy.command": [str(PROXY)],
        "ConfigurableHTTPProxy.pid_file": str(WORK / "proxy.pid"),
        "SimpleLocalProcessSpawner.home_dir_template": str(users / "{username}"),
        "Spawner.cmd": [str(pathlib.Path(sys.executable).with_name("jupyterhub-singleuser"))],
        # Jupyter refuses to run as root (containers, CI) unless told to.
        "Spawner.args": ["--allow-root"] if os.geteuid() == 0 else [],
        "Spawner.notebook_dir": str(NOTEBOOKS),
        "Spawner.start_timeout": 180,
        "Spawner.http_timeout": 180,
        "Spawner.environment": {
            "TGAI_SHARED": str(shared),
            "TGAI_THREADS": "1",
            "TGAI_OFFLINE": "1",
            "TGAI_PROFILE": "class",
        },
        "JupyterHub.services": [{"name": SERVICE, "api_token": token}],
        "JupyterHub.load_roles": [
            {"name": SERVICE, "scopes": ["admin:users", "admin:servers", "admin:server_state", "access:servers"], "services": [SERVICE]}
        ],
    }
    lines = [f"c.{name} = {value!r}" for name, value in settings.items()]
    path = WORK / "jupyterhub_config.py"
    path.write_text("\n".join(["# Written by hub/check.py; see docs/hub.md.", *lines]) + "\n")
    return path


class Hub:
    """The hub's REST API, with the check's service token."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def request(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def wait_until_up(self, process: subprocess.Popen, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with code {process.returncode}; see {WORK / 'jupyterhub.log'}")
            try:
                self.request("GET", "/hub/api/")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        raise TimeoutError(f"the hub did not answer within {seconds:.0f} s; see {WORK / 'jupyterhub.log'}")

    def start_server(self, user: str, seconds: float = 240) -> None:
        self.request("POST", f"/hub/api/users/{user}")
        self.request("POST", f"/hub/api/users/{user}/server")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            server = (self.request("GET", f"/hub/api/users/{user}").get("servers") or {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(1)
        raise TimeoutError(f"{user}'s server was not ready within {seconds:.0f} s; see {WORK / 'jupyterhub.log'}")


def _peak_memory(pid: int) -> dict:
    """Peak resident memory (VmHWM) of a learner's server process and of its children (the kernel)."""

    def peak(process: int) -> int:
        for line in pathlib.Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    children = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return {"server": peak(pid), "kernel": max((peak(child) for child in children), default=0)}


def _message(session: str, code: str) -> dict:
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "session": session, "username": "check",
                   "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }


async def run_lesson(hub: Hub, user: str, cells: list[str]) -> dict:
    """Open the lesson in `user`'s server as JupyterLab does and run its code cells one by one."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {hub.token}"}
    session = await asyncio.to_thread(
        hub.request, "POST", f"/user/{user}/api/sessions",
        {"path": LESSON, "name": LESSON, "type": "notebook", "kernel": {"name": "python3"}},
    )
    kernel = session["kernel"]["id"]
    socket_url = hub.url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}"
    connection = await websocket_connect(HTTPRequest(socket_url, headers=headers), max_message_size=64 * 2**20)
    started, texts = time.monotonic(), []
    try:
        for number, code in enumerate(cells, start=1):
            request = _message(uuid.uuid4().hex, code)
            await connection.write_message(json.dumps(request))
            while True:
                raw = await asyncio.wait_for(connection.read_message(), CELL_TIMEOUT)
                if raw is None:
                    raise RuntimeError(f"{user}: the kernel's websocket closed during code cell {number}")
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                    continue
                kind, content = reply["header"]["msg_type"], reply["content"]
                if kind == "stream":
                    texts.append(content["text"])
                elif kind == "error":
                    texts.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "execute_reply":
                    if content["status"] != "ok":
                        raise RuntimeError(f"{user}: code cell {number} failed: {content.get('ename')}: {content.get('evalue')}")
                    break
        seconds = time.monotonic() - started
        state = (await asyncio.to_thread(hub.request, "GET", f"/hub/api/users/{user}"))["servers"][""]["state"]
        memory = _peak_memory(state["pid"])  # while the kernel still runs
    finally:
        connection.close()
        await asyncio.to_thread(hub.request, "DELETE", f"/user/{user}/api/sessions/{session['id']}")
    return {"user": user, "cells": len(cells), "seconds": seconds, "output": "".join(texts), "memory": memory}


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the hub stops the learners' servers and its proxy on the way out
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv=None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--users", type=int, default=4, help="learners running the lesson at once (default 4)")
    users = arguments.parse_args(argv).users
    if users < 1:
        raise SystemExit(f"--users must be at least 1; received {users}")
    if not PROXY.exists():
        raise SystemExit(f"configurable-http-proxy is missing at {PROXY}: run `make hub-check` (it runs `npm ci` in hub/)")
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "users").mkdir(parents=True)
    shared = WORK / "shared"
    print(f"hub-check: the instructor fills the shared layer {shared} with {LESSON}", flush=True)
    before = fill_shared_layer(shared)
    token, port = secrets.token_hex(32), _free_port()
    config = write_config(port, _free_port(), token, shared)
    hub, process = Hub(f"http://127.0.0.1:{port}", token), None
    lesson = json.loads((NOTEBOOKS / LESSON).read_text())
    cells = ["".join(cell["source"]) for cell in lesson["cells"] if cell["cell_type"] == "code"]
    names = [f"learner{number}" for number in range(1, users + 1)]
    try:
        with open(WORK / "jupyterhub.log", "w") as log:
            process = subprocess.Popen(
                [str(pathlib.Path(sys.executable).with_name("jupyterhub")), "-f", str(config)],
                cwd=WORK, stdout=log, stderr=subprocess.STDOUT,
            )
        hub.wait_until_up(process)
        print(f"hub-check: JupyterHub {hub.request('GET', '/hub/api/')['version']} on 127.0.0.1:{port}", flush=True)
        for name in names:
            hub.start_server(name)
        print(f"hub-check: {users} learners' servers are up; each runs {LESSON} ({len(cells)} code cells), all at once", flush=True)

        async def everyone():
            return await asyncio.gather(*(run_lesson(hub, name, cells) for name in names))

        outcomes = asyncio.run(everyone())
        for name in names:
            hub.request("DELETE", f"/hub/api/users/{name}/server")
    finally:
        _stop(process)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # so that the next run (or `make clean`) can remove it
    problems = []
    for outcome in outcomes:
        memory = {part: f"{value / 2**30:.2f} GiB" for part, value in outcome["memory"].items()}
        print(
            f"hub-check: {outcome['user']}: {outcome['cells']} cells ok in {outcome['seconds']:.0f} s; peak memory: "
            f"Jupyter server {memory['server']}, kernel {memory['kernel']}",
            flush=True,
        )
        if "| threads 1" not in outcome["output"]:
            problems.append(f"{outcome['user']}'s banner does not show the thread cap TGAI_THREADS=1")
        home = WORK / "users" / outcome["user"] / ".cache" / "tgai"
        if not home.is_dir():
            problems.append(f"{outcome['user']} has no cache home of their own at {home}")
    if _snapshot(shared) != before:
        problems.append(f"the shared layer {shared} changed while the learners worked")
    for problem in problems:
        print(f"hub-check: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(f"hub-check: passed: {users} learners ran {LESSON} at once; the shared layer was never written", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
