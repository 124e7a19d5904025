"""Sweeps on a real Ray cluster of two nodes on this machine: `hydra/launcher=ray`, populations on
Ray, and a node killed mid-sweep.

The cluster is two `ray start --block` processes (a head and a second node, one CPU and an 80 MB
object store each) with loopback node addresses, 127.0.0.2 and 127.0.0.3: Ray turns 127.0.0.1 into
the machine's outside address (`resolve_ip_for_localhost`), but not the rest of 127/8. Ray's
servers still listen on every interface (Ray has no option against it); its token authentication
is on, with a token made here in a temporary file (`RAY_AUTH_TOKEN_PATH`), so nothing is written
to ~/.ray. Each node runs in its own session, started here and stopped here by its process group
id, never by name; the test checks that no process of those sessions is left.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import ROOT, session_processes, stop_sessions
from hold_at import hold, release, wait_held

pytest.importorskip("ray")

OBJECT_STORE = str(80 * 1024**2)
IRIS = ("trainer.max_epochs=3", "callbacks.pictures.enabled=false")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TOKEN: list[str] = []  # the cluster's token file, while a cluster runs


def _env() -> dict[str, str]:
    return {
        **os.environ,
        # tests/ too: the jobs take the test's HoldAt callback (tests/hold_at.py)
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": TOKEN[-1] if TOKEN else "",
    }


@dataclass
class Cluster:
    address: str
    temp_dir: str
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        self.nodes[name] = subprocess.Popen(
            [ray, "start", "--block", "--num-cpus=1", "--disable-usage-stats", f"--object-store-memory={OBJECT_STORE}"]
            + [f"--dashboard-agent-listen-port={_free_port()}", *args],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by that id, with every process it started
        )

    def kill(self, name: str) -> None:
        """SIGKILL to every process of the node's session, as a machine that goes away (Ray's workers
        have process groups of their own, but stay in the session of the `ray start` that made them)."""
        process = self.nodes.pop(name)
        for pid in session_processes({process.pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def sessions(self) -> set[int]:
        return {process.pid for process in self.nodes.values()}

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Until `count` nodes are alive (a small Ray driver asks the cluster)."""
        script = (
            "import ray, time, sys\n"
            f"ray.init(address='{self.address}', logging_level='ERROR')\n"
            f"end = time.time() + {timeout}\n"
            f"while sum(n['Alive'] for n in ray.nodes()) < {count} and time.time() < end: time.sleep(0.5)\n"
            f"sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= {count} else 1)\n"
        )
        subprocess.run([sys.executable, "-c", script], env=_env(), check=True, timeout=timeout + 60)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    temp_dir = tempfile.mkdtemp(prefix="dlray", dir="/tmp")  # Ray's sockets need a short path
    token = Path(temp_dir) / "token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    TOKEN.append(str(token))
    port = _free_port()
    cluster = Cluster(f"127.0.0.2:{port}", temp_dir)
    cluster.start(
        "head",
        "--head",
        "--node-ip-address=127.0.0.2",
        f"--port={port}",
        f"--ray-client-server-port={_free_port()}",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
    )
    sessions = set(cluster.sessions())
    try:
        cluster.wait_for(1)
        cluster.start("second", f"--address={cluster.address}", "--node-ip-address=127.0.0.3")
        sessions |= cluster.sessions()
        cluster.wait_for(2)
        yield cluster
    finally:
        # `ray start --block` stops its processes on SIGTERM, slowly; what is left is SIGKILLed
        left = stop_sessions(sessions)
        for process in cluster.nodes.values():
            process.wait(timeout=10)
        TOKEN.clear()
        subprocess.run(["rm", "-rf", temp_dir], check=False)
    assert not left, f"Ray processes {left} still alive 30 s after SIGTERM and SIGKILL"


def _train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _nodes(sweep_dir: Path) -> dict[str, str]:
    return {path.parent.name: json.loads(path.read_text())["node_id"] for path in sweep_dir.glob("*/ray_node.json")}


def _statuses(sweep_dir: Path) -> dict[str, str]:
    return {path.parent.name: json.loads(path.read_text())["status"] for path in sweep_dir.glob("*/summary.json")}


@pytest.mark.slow
def test_sweeps_and_populations_run_on_both_nodes_and_survive_a_killed_node(cluster: Cluster, tmp_path: Path) -> None:
    on_cluster = (f"hydra.launcher.init.address={cluster.address}",)

    # 1. Six jobs as Ray tasks, one CPU each: both nodes take jobs, every record is complete.
    sweep_dir = tmp_path / "sweep"
    result = _train(
        "-m",
        "hydra/launcher=ray",
        *on_cluster,
        "optimizer.lr=0.2,0.1,0.05",
        "seed=1,2",
        *IRIS,
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "6 jobs as Ray tasks" in result.stdout and "on 2 node(s)" in result.stdout
    assert _statuses(sweep_dir) == {str(number): "completed" for number in range(6)}
    assert len(set(_nodes(sweep_dir).values())) == 2  # the jobs ran on both nodes
    report = (sweep_dir / "report.md").read_text()
    assert "6 jobs; completed: 6" in report

    # 2. Populations on Ray: two populations (kept apart by model.hidden) as two tasks.
    population_dir = tmp_path / "populations"
    result = _train(
        "-m",
        "hydra/launcher=population",
        "hydra.launcher.backend=ray",
        f"hydra.launcher.ray.init.address={cluster.address}",
        "model.hidden=[8],[8,8]",  # two depths (widths at one depth share a population, padded)
        "optimizer.lr=0.1,0.05",
        *IRIS,
        f"hydra.sweep.dir={population_dir}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 populations and lone jobs as Ray tasks" in result.stdout
    assert "2 populations (2 + 2 jobs), kept apart by model.hidden" in result.stdout
    assert _statuses(population_dir) == {str(number): "completed" for number in range(4)}
    nodes = _nodes(population_dir)
    assert len(set(nodes.values())) == 2  # one population per node

    # 3. The second node killed while its job trains: Ray runs the job again on the head, where it
    # resumes from the last.ckpt the killed run left. Both jobs hold (tests/hold_at.py) at step
    # HOLD_STEP, inside epoch 3 with epochs 0-2 in last.ckpt; the node is killed while they hold, then
    # they are let go: the kill lands at a known step, not wherever a long run happened to be.
    killed_dir, hold_dir = tmp_path / "killed", tmp_path / "hold"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hydra/launcher=ray",
        *on_cluster,
        "optimizer.lr=0.1,0.05",
        f"trainer.max_epochs={EPOCHS}",
        "callbacks.pictures.enabled=false",
        "callbacks.model_checkpoint.flush_every_s=0",  # last.ckpt written every epoch
        *hold(HOLD_STEP, hold_dir),
        f"hydra.sweep.dir={killed_dir}",
    ]
    driver = subprocess.Popen(
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    held = wait_held(hold_dir, 2, 300, alive=lambda: driver.poll() is None)
    assert len(held) == 2, f"the jobs did not both reach step {HOLD_STEP}: {held}"
    second = cluster.nodes["second"].pid
    on_second = [job for job, pid in held.items() if _session(pid) == second]
    assert len(on_second) == 1, held  # one CPU per node: one job on each
    victim = on_second[0]
    assert (killed_dir / victim / "checkpoints" / "last.ckpt").exists()
    before = _epochs(killed_dir / victim)
    killed_at = time.time()
    cluster.kill("second")
    release(hold_dir)  # the head's job goes on; the victim's retry does not hold again
    output = driver.communicate(timeout=600)[0]
    about = "\n".join(line for line in output.splitlines() if "job " in line or "ray:" in line or "Error" in line)
    assert driver.returncode == 0, output[-4000:]
    assert f"job {victim} (" in output and "lost earlier; resuming from" in output, about  # retried, from last.ckpt
    assert _statuses(killed_dir) == {"0": "completed", "1": "completed"}
    summary = json.loads((killed_dir / victim / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and len(summary["history"]) == EPOCHS
    assert [row["epoch"] for row in summary["history"]] == list(range(EPOCHS))  # each epoch once, none lost
    restored = _restored_at(killed_dir / victim / "train.log")
    print(
        f"killed node: job {victim} had {before} epochs at the kill; it resumed from its last.ckpt "
        f"{restored - killed_at:.1f} s after the kill and finished {time.time() - killed_at:.1f} s after it; an "
        f"uninterrupted job's whole run took {_wall(killed_dir, victim):.1f} s (load average {os.getloadavg()[0]:.1f})"
    )

    # The same command again: every job is found complete and none runs again.
    again = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count("completed earlier") == 2


EPOCHS = 8  # of the jobs a kill interrupts
HOLD_STEP = 21  # Iris, 6 steps per epoch: the 3rd step of epoch 3, with epochs 0-2 in last.ckpt


def _epochs(run_dir: Path) -> int:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(summary.get("epochs_run") or 0) if (run_dir / "checkpoints" / "last.ckpt").exists() else 0


def _restored_at(log: Path) -> float:
    """When the job's second process restored last.ckpt (the first line of Lightning's that says so)."""
    import datetime

    for line in log.read_text().splitlines():
        if "Restoring states from the checkpoint path" in line and "last.ckpt" in line:
            stamp = line[1 : line.index("]")]
            return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"{log} does not say the job restored its last.ckpt")


def _wall(sweep_dir: Path, victim: str) -> float:
    other = next(name for name in ("0", "1") if name != victim)
    return float(json.loads((sweep_dir / other / "summary.json").read_text())["wall_time_s"])


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


@pytest.mark.slow
def test_a_job_lost_without_retries_is_recorded_with_its_node_and_resumed_by_the_same_command(tmp_path: Path) -> None:
    """`remote.max_retries=0` on a Ray this command starts: the job's worker killed mid-training is
    recorded `lost` naming its Ray node, the sweep exits 1, and the same command resumes it."""
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    TOKEN.append(str(token))
    try:
        sweep_dir, hold_dir = tmp_path / "lost", tmp_path / "hold"
        command = [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "hydra/launcher=ray",
            "hydra.launcher.init.num_cpus=1",
            "hydra.launcher.remote.max_retries=0",
            f"trainer.max_epochs={EPOCHS}",
            "callbacks.pictures.enabled=false",
            "callbacks.model_checkpoint.flush_every_s=0",
            *hold(HOLD_STEP, hold_dir),  # the job waits at a known step, last.ckpt on disk, to be killed there
            f"hydra.sweep.dir={sweep_dir}",
        ]
        driver = subprocess.Popen(
            command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        held = wait_held(hold_dir, 1, 300, alive=lambda: driver.poll() is None)
        assert "0" in held and _epochs(sweep_dir / "0") >= 3, "the job never reached a checkpoint"
        record = json.loads((sweep_dir / "0" / "ray_node.json").read_text())
        assert int(record["pid"]) == held["0"]  # the worker that runs the job
        os.kill(int(record["pid"]), signal.SIGKILL)  # the Ray worker running the job
        release(hold_dir)  # the job's second run (the same command again) does not hold anyway
        output = driver.communicate(timeout=300)[0]
        assert driver.returncode == 1, output[-3000:]
        summary = json.loads((sweep_dir / "0" / "summary.json").read_text())
        assert summary["status"] == "lost"
        assert f"lost with its Ray node {record['node_ip']}" in summary["stop_reason"]
        assert record["node_id"][:12] in summary["stop_reason"]

        again = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout[-3000:]
        assert "lost earlier; resuming from" in again.stdout
        summary = json.loads((sweep_dir / "0" / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert [row["epoch"] for row in summary["history"]] == list(range(EPOCHS))
    finally:
        TOKEN.clear()
