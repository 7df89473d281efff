"""Imports run one way (docs/design.md, "Architecture"): the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout, result.stdout[-2000:]


# Imported by the node that needs them, not while the pipelines register: each costs 0.5-2 s of every command's
# start (issue 22; bench/bench_startup.py measures the time to the first node).
HEAVY_LIBRARIES = (
    "torch",
    "torchvision",
    "sklearn",
    "catboost",
    "gensim",
    "skops",
    "sentence_transformers",
    "openvino",
)
REGISTER_AND_CHECK = f"""
import json, logging, sys
from pathlib import Path
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
from kedro.framework.project import pipelines
from kedro.validation.type_extractor import TypeExtractor
every = dict(pipelines)
heavy = sorted(name for name in {HEAVY_LIBRARIES!r} if name in sys.modules)
warnings = []
class Collect(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())
logging.getLogger("kedro.validation.type_extractor").addHandler(Collect(logging.WARNING))
TypeExtractor(every).extract_types_from_pipelines()  # what `kedro run` does to validate parameters
print(json.dumps({{"heavy": heavy, "nodes": len(every["__default__"].nodes), "warnings": warnings}}))
"""


def test_registering_the_pipelines_imports_no_heavy_library_and_every_node_signature_resolves():
    result = subprocess.run(
        [sys.executable, "-c", REGISTER_AND_CHECK],
        check=False,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["nodes"] > 50
    assert report["heavy"] == [], f"imported while the pipelines register: {report['heavy']}"
    assert report["warnings"] == []  # a node signature naming a type that is not importable warns here
