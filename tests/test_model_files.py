"""Trained models are stored in formats that cannot run code when loaded: torch state dicts read with
``weights_only=True`` and everything else through skops, which builds only the types its catalog entry trusts."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
import yaml
from kedro.io.core import DatasetError

from tests.conftest import PROJECT, project_catalog

SAFE = {"engagement_lab.datasets.TorchStateDictDataset", "engagement_lab.datasets.SkopsDataset", "json.JSONDataset"}


def catalog_entries() -> dict[str, dict]:
    entries: dict[str, dict] = {}
    for path in sorted((PROJECT / "conf/base").glob("catalog*.yml")):
        entries.update({k: v for k, v in yaml.safe_load(path.read_text()).items() if not k.startswith("_")})
    return entries


def test_every_saved_model_uses_a_format_that_cannot_run_code():
    models = {name: e for name, e in catalog_entries().items() if "/06_models/" in str(e.get("filepath", ""))}
    assert len(models) >= 8, sorted(models)
    for name, entry in models.items():
        assert entry["type"] in SAFE, f"{name}: {entry['type']}"
        if entry["type"] == "engagement_lab.datasets.SkopsDataset":
            assert "backend" not in entry, f"{name} sets a backend: SkopsDataset always reads with skops.io"
            assert str(entry["filepath"]).endswith(".skops"), name
            assert isinstance(entry.get("load_args", {}).get("trusted"), list), f"{name} lists no trusted types"
        else:
            assert entry.get("load_args", {}).get("weights_only", True) is True, name


class _Payload:
    """What an attacker's pickle does on load: run a command (here, create a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _model_path(root: Path, catalog, name: str) -> Path:
    dataset = catalog.get(name)
    path = Path(str(dataset._get_save_path()))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_pickle_in_place_of_a_model_is_refused_without_running_it(tmp_path):
    catalog = project_catalog(tmp_path)
    name = "engagement_catboost_pre_publication_model"
    marker = tmp_path / "code_ran"
    _model_path(tmp_path, catalog, name).write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DatasetError, match=r"catboost_pre_publication\.skops[\s\S]*File is not a zip file"):
        catalog.load(name)
    assert not marker.exists()


def test_a_model_file_holding_an_untrusted_type_is_refused_naming_the_type(tmp_path):
    catalog = project_catalog(tmp_path)
    name = "ppcl_full_preprocessor"
    # A well-formed skops file whose object is of a type the catalog entry does not trust.
    from fractions import Fraction

    skops.io.dump({"kmeans": Fraction(1, 3)}, _model_path(tmp_path, catalog, name))
    with pytest.raises(DatasetError, match=r"Untrusted types found in the file: \['fractions.Fraction'\]"):
        catalog.load(name)


def test_trusted_types_load_back_exactly(tmp_path):
    from sklearn.cluster import KMeans

    catalog = project_catalog(tmp_path)
    x = np.random.default_rng(0).normal(size=(40, 3))
    kmeans = KMeans(3, n_init=2, random_state=0).fit(x)
    catalog.save("comment_kmeans", kmeans)
    np.testing.assert_array_equal(catalog.load("comment_kmeans").predict(x), kmeans.predict(x))
