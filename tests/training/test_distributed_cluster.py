"""A real multi-node Ray cluster on this machine: a head and three worker nodes (separate raylets
and object stores, as ``ray start --head`` and ``ray start --address`` make them), the IMPALA
actors placed on the worker nodes through a custom resource, and one whole worker node removed
mid-run (its raylet, object store and actor processes stopped) — the run must complete, with the
lost actor restarted on the spare node, and say what it lost.
"""

from __future__ import annotations

import os
import time

import pytest

from advantage import IMPALA
from advantage.app.defaults import default_config
from advantage.cli import _losses
from advantage.training.distributed.actor_learner import ActorLearnerTrainer
from advantage.training.distributed.workers import WorkerPool

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cluster():
    """Head (no actor resource: the learner's node) + three worker nodes with one ``actor`` slot each."""
    import ray
    from ray.cluster_utils import Cluster

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, previous) if p)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": 80 * 1024**2, "include_dashboard": False,
    })
    workers = [cluster.add_node(num_cpus=1, resources={"actor": 1}, object_store_memory=80 * 1024**2) for _ in range(3)]
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous


def test_a_worker_node_dies_mid_run_and_the_run_completes_saying_what_it_lost(cluster):
    import ray

    cluster, nodes = cluster
    # 2,048-step trajectories: long enough that the node removed while one is acted dies before it ends
    config = default_config("impala", "CartPole-v1").with_overrides([
        "num_workers=2", "num_envs=4", "trainer.nsteps=2048", "trainer.total_steps=81920", "worker_resources={actor = 1}",
        "trainer.validate_freq=0", "trainer.tensorboard=false", "algorithm.device=cpu",
    ])
    agent = IMPALA(run_config=config)
    pool = WorkerPool(agent.model, config)
    by_id = {node.node_id: node for node in nodes}
    placed = pool.nodes()
    assert len(set(placed)) == 2 and set(placed) <= set(by_id)  # one actor per worker node, none on the head
    removed = []

    class NodeKillingTrainer(ActorLearnerTrainer):
        def launch(self, index):
            super().launch(index)
            if self.updates == 4 and not removed:  # actor `index` is acting on its node now
                removed.append(placed[index])
                cluster.remove_node(by_id[placed[index]], allow_graceful=False)

    try:
        started = time.monotonic()
        summary = NodeKillingTrainer(pool, agent.algorithm, None, config.trainer, config).train()
        pool.wait_until_up(placed.index(removed[0]))  # the other actor may have finished the run alone meanwhile
        after = pool.nodes()
        deadline = time.monotonic() + 60  # Ray's GCS marks a killed node dead after its health checks fail
        while not pool.lost_nodes() and time.monotonic() < deadline:
            time.sleep(0.5)
        lost = pool.lost_nodes()
    finally:
        pool.close()
    spare = (set(by_id) - set(placed)).pop()
    assert summary["env_steps"] >= 81920 and summary["env_steps"] == summary["updates"] * 2 * 2048 * 2
    assert lost == removed and summary["lost_nodes"] in ([], removed)  # [] when the run ended before Ray noticed
    assert summary["worker_restarts"] <= 1 and summary["dropped_rollouts"] >= 1
    assert spare in after and removed[0] not in after  # the lost actor came back on the spare node
    said = _losses({**summary, "lost_nodes": lost})
    assert said.startswith(f"1 Ray node ({removed[0][:12]}); ") and "rollout(s) in flight on workers that died" in said
    assert time.monotonic() - started < 180
    assert ray.cluster_resources().get("actor") == 2  # two worker nodes left
