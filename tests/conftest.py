"""The test tree mirrors the package (``tests/<package>/test_<module>.py``); the toy envs shared by
several packages' tests (``toy_envs``, ``faulty_envs``, ``matrix_envs``) live here, importable by
name from every test module as a user's own env module would be."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
