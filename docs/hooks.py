"""mkdocs hooks: the pages generated from the code (see ``advantage.tools.docs``) are written
into the site at build time, so the CLI, config and algorithm pages always match the code."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mkdocs.structure.files import File  # noqa: E402

from advantage.algorithms import ALGORITHMS  # noqa: E402
from advantage.cli import build_parser  # noqa: E402
from advantage.tools import docs  # noqa: E402


def on_config(config):
    """List one page per algorithm of the registry under "Algorithms"."""
    pages = [{spec.api_name: f"algorithms/{name}.md"} for name, spec in ALGORITHMS.items()]
    config["nav"] = [{"Algorithms": pages} if isinstance(item, dict) and "Algorithms" in item else item
                     for item in config["nav"]]
    return config


def on_files(files, config):
    """Add the generated pages."""
    suite = ROOT / docs.SUITE_TABLE
    table = suite.read_text() if suite.is_file() else ""
    images = {p.stem.removeprefix("curves_"): p for p in suite.parent.glob("curves_*.png")}
    curves = {env: f"img/{path.name}" for env, path in images.items()}
    pages = {
        "reference/cli.md": docs.cli_reference(build_parser()),
        "reference/config.md": docs.config_reference(),
        **{f"algorithms/{name}.md": docs.algorithm_page(spec, table, curves) for name, spec in ALGORITHMS.items()},
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    for path in images.values():  # the curves the algorithm pages show
        files.append(File.generated(config, f"algorithms/img/{path.name}", abs_src_path=str(path)))
    return files
