"""Transfer evaluation: the UnbiasedEmotion protocol, unreadable images, and Table 3 in the results contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from PIL import Image

from engagement_lab.core.raw import RawFolder
from engagement_lab.core.results import contract_metrics
from engagement_lab.pipelines.demo import on_sample_world
from engagement_lab.pipelines.pretraining import create_pipeline as pretraining_pipeline
from engagement_lab.pipelines.pretraining.nodes import concept_labels, pretrain
from engagement_lab.pipelines.transfer_evaluation import create_pipeline
from engagement_lab.pipelines.transfer_evaluation.nodes import evaluate_pretrained, list_emotion_images
from engagement_lab.vise.transfer import linear_evaluation, random_splits
from engagement_lab.world.truth import truth_by_post_id
from tests.conftest import add_params, base_params

MODELS = ["random_init", "imagenet_supervised", "vise", "vise_comments", "vise_reactions", "supervised_concepts"]


def test_splits_are_stratified_disjoint_and_differ_between_repeats():
    labels = np.repeat(np.arange(6), 50)
    splits = random_splits(labels, 5, (0.7, 0.1, 0.2), seed=1)
    for split in splits:
        assert {k: len(v) for k, v in split.items()} == {"train": 210, "val": 30, "test": 60}
        assert len(np.unique(np.concatenate(list(split.values())))) == 300
        assert (np.bincount(labels[split["test"]]) == 10).all()
    assert len({tuple(np.sort(s["test"])) for s in splits}) == 5
    with pytest.raises(ValueError, match="must sum to 1"):
        random_splits(labels, 1, (0.7, 0.2, 0.2), seed=1)


def test_linear_evaluation_on_separable_features():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    features = rng.normal(size=(120, 5)) + 4 * np.eye(3, 5)[labels]
    splits = random_splits(labels, 2, (0.7, 0.1, 0.2), seed=0)
    accuracy, chosen = linear_evaluation(features, labels, splits, [1e-4, 1.0], max_iter=500)
    assert min(accuracy) > 0.9 and set(chosen) <= {1e-4, 1.0} and len(chosen) == 2


def test_an_unreadable_image_is_kept_with_its_reason_and_a_wrong_layout_is_named(tmp_path):
    (tmp_path / "joy").mkdir()
    good = tmp_path / "joy/a.jpg"

    Image.new("RGB", (8, 8)).save(good)
    folder = RawFolder(
        str(tmp_path), {"joy/a.jpg": good.read_bytes, "joy/b.jpg": lambda: b"not a jpeg", "x.txt": bytes}
    )
    table = list_emotion_images(folder)
    assert table["readable"].tolist() == [True, False]
    assert "unreadable image" in table.loc[1, "reason"]
    with pytest.raises(ValueError, match="expects <label>/<image>.jpg"):
        list_emotion_images(RawFolder(str(tmp_path), {"flat.jpg": bytes}))


@pytest.fixture(scope="module")
def evaluated(tiny_clustered):
    catalog = tiny_clustered
    pretraining = base_params("pretraining")
    pretraining["config"].update(epochs=1, image_size=32)
    for variant in pretraining["variants"].values():
        variant["checkpoint"] = None
    add_params(catalog, "pretraining", pretraining)
    SequentialRunner().run(pretraining_pipeline(), catalog)
    transfer = base_params("transfer_evaluation", splits=2, imagenet_image_size=64)
    transfer["finetune"].update(epochs=1, device="cpu")
    add_params(catalog, "transfer_evaluation", transfer)
    SequentialRunner().run(on_sample_world(create_pipeline()), catalog)
    return catalog


def test_table_3_follows_the_results_contract(evaluated):
    results = evaluated.load("vise_metrics")
    images = evaluated.load("emotion_images")
    assert results["pipeline"] == "vise" and set(results["models"]) == set(MODELS)
    sizes = results["split_sizes"]
    assert sizes["train"] + sizes["val"] + sizes["test"] + sizes["unreadable_excluded"] == len(images) == 120
    for metrics in results["models"].values():
        assert set(metrics) == {"linear_acc_mean", "linear_acc_std", "finetune_acc_mean", "finetune_acc_std"}
        assert 0 <= metrics["linear_acc_mean"] <= 1 and metrics["linear_acc_std"] >= 0
    # The bundled ImageNet encoder reads the emotion cue well above chance (1/6) even on the tiny set.
    assert results["models"]["imagenet_supervised"]["linear_acc_mean"] > 0.5
    assert results["architectures"]["imagenet_supervised"] == "efficientnet_lite0"
    # The label-source control is VisE's own backbone, not the bundled ImageNet network.
    assert results["architectures"]["supervised_concepts"] == results["architectures"]["vise"] == "resnet_small"
    assert "models_omitted" not in results
    table = evaluated.load("vise_transfer_table")
    assert table["model"].tolist() == MODELS and table["linear"].str.contains("±").all()
    assert "vise.linear_acc_mean" in contract_metrics(results)


def test_the_semantic_control_trains_on_the_planted_concepts_of_the_same_images(evaluated):
    labels = evaluated.load("vise_concept_labels")
    pseudo = evaluated.load("vise_pseudo_labels")
    assert labels["post_id"].tolist() == pseudo["post_id"].tolist()  # the same images, in the same order
    assert (labels["concept_label"] >= 0).all()
    truth = truth_by_post_id(evaluated.load("ground_truth_posts"), ["crowdtangle"]).set_index("post_id")["concept"]
    concepts = labels["post_id"].map(truth)
    # One label per planted concept: posts share a label exactly when they share a concept.
    assert concepts.groupby(labels["concept_label"]).nunique().max() == 1
    assert labels.groupby(concepts)["concept_label"].nunique().max() == 1
    history = evaluated.load("pretraining_supervised_concepts_history")
    assert "concept_acc" in history[-1] and "reaction_acc" not in history[-1]


def test_without_concept_labels_the_control_is_left_out_with_its_reason(evaluated):
    pseudo = evaluated.load("vise_pseudo_labels")
    posts = pd.DataFrame({"post_id": pseudo["post_id"], "source": "crowdtangle"})  # an export without concepts
    labels = concept_labels(pseudo, posts, None)
    assert (labels["concept_label"] == -1).all() and len(labels) == len(pseudo)
    params = base_params("pretraining")
    backbone, history = pretrain(labels, evaluated.load("vise_cluster_report"), params, {"tasks": ["concepts"]})
    assert "no concept labels" in history[-1]["omitted"] and len(history) == 1
    scores = evaluate_pretrained(
        evaluated.load("emotion_images"), backbone.state_dict(), history, params, {}, name="supervised_concepts"
    )
    assert scores == {"model": "supervised_concepts", "omitted": history[-1]["omitted"]}
