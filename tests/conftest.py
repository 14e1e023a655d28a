"""The test tree mirrors the package (``tests/<package>/test_<module>.py``); the toy envs shared by
several packages' tests (``toy_envs``, ``faulty_envs``, ``matrix_envs``) live here, importable by
name from every test module as a user's own env module would be."""

import os
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
sys.path.insert(0, HERE)


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray for every in-process Ray test of a module (runs reuse an initialised Ray and
    leave it running); shut down after the module, as an idle Ray's daemons and prestarted workers
    take CPU from the tests that follow. Its workers import the toy envs from here."""
    import ray  # the test command installs it (`pip install -e .[dev,ray,...]`): missing, it fails

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, previous) if p)
    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()
    if previous is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = previous
