"""dual_attention: the models, a planted-novelty learning test, the analyses and the whole pipeline
on the tiny world writing the results contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.runner import SequentialRunner

from engagement_lab.core.registry import DUAL_ATTENTION_MODELS
from engagement_lab.dual_attention.analysis import iterative_kmeans, text_statistics
from engagement_lab.dual_attention.environment import environment_distances
from engagement_lab.dual_attention.inputs import encode_posts, fit_preprocessor
from engagement_lab.dual_attention.models import ModelConfig, PopularityNet
from engagement_lab.dual_attention.text import PAD, UNK, Vocabulary, fit_word_vectors
from engagement_lab.dual_attention.train import binary_metrics
from engagement_lab.pipelines.dual_attention import create_pipeline as dual_attention_pipeline
from engagement_lab.pipelines.dual_attention.nodes import _model_config, prepare_inputs, train_variant
from engagement_lab.pipelines.user_environment import create_pipeline as user_environment_pipeline
from engagement_lab.pipelines.user_environment.nodes import build_model_input, fit_topic_model, label_and_split
from tests.conftest import base_params, project_catalog

ARCH_CONFIGS = [
    {"arch": "visual"},
    {"arch": "textual"},
    {"arch": "early_fusion"},
    {"arch": "late_fusion"},
    {"arch": "ccr"},
    {"arch": "similarity"},
    {"arch": "dual", "explicit_attention": True},
    {"arch": "dual", "environment": "concat"},
    {"arch": "dual", "explicit_attention": True, "environment": "implicit"},
]


@pytest.mark.parametrize("variant", ARCH_CONFIGS, ids=lambda v: "-".join(str(x) for x in v.values()))
def test_every_model_gives_one_logit_and_attention_sums_to_one(variant):
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=30,
        image_dim=12,
        topic_dim=5,
        embed_dim=8,
        hidden_dim=8,
        attention_dim=6,
        env_dim=8,
        fc_dim=8,
        **variant,
    )
    model = PopularityNet(config).eval()
    tokens = torch.tensor([[3, 4, 5, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    lengths = torch.tensor([3, 1, 5])
    out = model(torch.randn(3, 12), tokens, lengths, torch.randn(3, 12), torch.randn(3, 5))
    assert out["logit"].shape == (3,) and torch.isfinite(out["logit"]).all()
    if variant.get("explicit_attention"):
        a = out["attention"]
        torch.testing.assert_close(a.sum(1), torch.ones(3))
        assert a[0, 3:].abs().sum() == 0 and a[1, 1:].abs().sum() == 0  # no weight on padding
    else:
        assert out["attention"] is None
    assert len(out["aux_logits"]) == (2 if variant["arch"] == "ccr" else 0)


def test_model_config_names_bad_choices():
    with pytest.raises(ValueError, match="'transformer'"):
        ModelConfig(arch="transformer", vocab_size=3, image_dim=2, topic_dim=2)
    with pytest.raises(ValueError, match="'dual' only"):
        ModelConfig(arch="visual", vocab_size=3, image_dim=2, topic_dim=2, environment="implicit")


def test_the_environment_is_what_finds_novel_posts(novelty_world):
    """Popularity is planted as novelty only: the models with the user environment must beat the
    explicit-attention model without it by 10 points and reach 75 % of the oracle's accuracy."""
    ue = base_params("user_environment")
    ue["lda"] = {**ue["lda"], "num_topics": 16, "passes": 5}
    labelled = label_and_split(novelty_world, ue)
    model_input = build_model_input(labelled, fit_topic_model(labelled, ue)[0], ue)
    da = base_params("dual_attention", seeds=[0], image_pca=None)
    da["train"] = {**da["train"], "lr": 1e-3, "lr_after": 1e-3, "epochs": 60, "patience": 20, "weight_decay": 0.0}
    da["model"] = {**da["model"], "dropout": 0.1}
    inputs = prepare_inputs(model_input, da)
    accuracy = {}
    for name in ("e_attn", "env", "env_i_attn"):
        _, predictions, _ = train_variant(inputs, da, da["models"][name])
        test = predictions[predictions["split"] == "test"]
        accuracy[name] = binary_metrics(test["label"], test["prob"] > 0.5)["accuracy"]
    test = model_input[model_input["split"] == "test"]
    oracle = binary_metrics(test["label"].astype(int), novelty_world.set_index("post_id").loc[test["post_id"], "novel"])
    for name in ("env", "env_i_attn"):
        assert accuracy[name] >= accuracy["e_attn"] + 10, accuracy
        assert accuracy[name] >= 0.75 * oracle["accuracy"], (accuracy, oracle)


def test_word2vec_vectors_place_words_of_the_same_contexts_together():
    rng = np.random.default_rng(0)
    docs = [["my", rng.choice(["cat", "kitten"]), "sleeps", "on", "the", "sofa"] for _ in range(200)]
    docs += [["my", rng.choice(["car", "truck"]), "needs", "new", "tyres", "today"] for _ in range(200)]
    vocab = Vocabulary.fit(docs + [["zebra"]])
    vectors = fit_word_vectors(docs, vocab, dim=16, window=3, epochs=50, seed=0)
    assert vectors.shape == (len(vocab), 16) and not vectors[vocab.itos.index(PAD)].any()
    np.testing.assert_array_equal(vectors, fit_word_vectors(docs, vocab, dim=16, window=3, epochs=50, seed=0))
    unit = {w: vectors[vocab.itos.index(w)] / np.linalg.norm(vectors[vocab.itos.index(w)]) for w in vocab.itos[2:]}
    assert unit["cat"] @ unit["kitten"] > unit["cat"] @ unit["car"] + 0.3
    assert unit["car"] @ unit["truck"] > unit["car"] @ unit["kitten"] + 0.3
    known = [i for i, w in enumerate(vocab.itos) if w not in (PAD, UNK, "zebra")]
    assert vectors[known].std() == pytest.approx(1.0, abs=0.15)  # nn.Embedding's own scale
    with pytest.raises(ValueError, match="empty"):
        fit_word_vectors([[], []], vocab, dim=16, window=3, epochs=1, seed=0)


def test_word_vectors_start_the_embedding_and_never_see_val_or_test_captions(novelty_world):
    ue = base_params("user_environment")
    ue["lda"] = {**ue["lda"], "num_topics": 8, "passes": 1}
    labelled = label_and_split(novelty_world, ue)
    model_input = build_model_input(labelled, fit_topic_model(labelled, ue)[0], ue)
    da = base_params("dual_attention", seeds=[0], image_pca=None)
    inputs = prepare_inputs(model_input, da)
    vectors = inputs["word_vectors"]
    assert vectors.shape == (len(inputs["vocab"]), da["model"]["embed_dim"])
    # Rewriting every val and test caption changes nothing: word2vec saw train and unlabelled captions only.
    scored = model_input["split"].isin(["val", "test"])
    rewritten = model_input.copy()
    rewritten.loc[scored, "tokens"] = pd.Series(
        [["con1cept", "con2cept"] * 5] * int(scored.sum()), index=rewritten.index[scored]
    )
    np.testing.assert_array_equal(prepare_inputs(rewritten, da)["word_vectors"], vectors)
    config = _model_config(da["models"]["textual"], da, inputs)
    model = PopularityNet(config, torch.from_numpy(vectors))
    torch.testing.assert_close(model.caption.embed.weight.detach(), torch.from_numpy(vectors))
    with pytest.raises(ValueError, match="do not fit an embedding"):
        PopularityNet(config, torch.zeros(3, 2))
    assert prepare_inputs(model_input, {**da, "word_vectors": {"method": "random"}})["word_vectors"] is None
    with pytest.raises(ValueError, match="'glove'"):
        prepare_inputs(model_input, {**da, "word_vectors": {"method": "glove"}})


def test_iterative_kmeans_picks_the_lopsided_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (4, 5))
    features = np.concatenate([c + rng.normal(0, 1, (50, 5)) for c in centres])
    unpopular = np.concatenate([rng.random(50) < p for p in (0.95, 0.05, 0.5, 0.5)])
    assign, classes = iterative_kmeans(features, unpopular, n_clusters=4, threshold=0.2, min_size=10, seed=0)
    assert len(classes) == 4 and (assign >= 0).all() and classes["size"].sum() == len(features)
    picked = classes[classes["picked"]].sort_values("R")
    assert len(picked) == 2 and picked["R"].iloc[0] < 0.2 and picked["R"].iloc[1] > 0.8
    assert (classes.loc[~classes["picked"], "R"].sub(0.5).abs() <= 0.2).all()


def test_text_statistics_count_and_filter():
    docs = [["love", "the", "😂", "#sun", "."], ["love", "it", "😂"], ["sad", "with", "😢"], ["sad", "love"]]
    table = text_statistics(docs, np.array([1, 1, 0, 0]), min_count=1).set_index("text")
    assert table.loc["love", ["m_p", "m_n", "m_p_minus_m_n"]].tolist() == [2, 1, 1]
    assert table.loc["😂", "kind"] == "emoji" and table.loc["😂", "m_p_minus_m_n"] == 2
    assert table.loc["#sun", "kind"] == "word"
    assert not {"the", "it", "with", "."} & set(table.index)  # articles, pronouns, prepositions, symbols


def test_relative_environment_input_is_the_post_seen_from_its_environment():
    rng = np.random.default_rng(0)
    n = 60
    tokens = [["w" + str(i % 7)] for i in range(n)]
    image, image_env = rng.normal(2, 3, (n, 6)), rng.normal(2, 1, (n, 6))
    topics, topic_env = rng.dirichlet(np.ones(4), n), rng.dirichlet(np.ones(4), n)
    image_env[0], topics[0], topic_env[0] = image[0], np.eye(4)[1], np.eye(4)[1]  # post 0 is its environment
    params = {"vocab_min_count": 1, "max_caption_len": 5, "image_pca": None}
    fitted = {
        m: fit_preprocessor(tokens, image, image_env, topics, topic_env, {**params, "environment_input": m})
        for m in ("mean", "relative")
    }
    encoded = {m: encode_posts(p, tokens, image, image_env, topics, topic_env) for m, p in fitted.items()}
    scale = (image.mean(0), image.std(0) + 1e-6)
    post, env = (image - scale[0]) / scale[1], (image_env - scale[0]) / scale[1]
    # mean (the paper): I_e on the image's scale, T_e standardised.
    np.testing.assert_allclose(encoded["mean"]["image_env"], env, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        encoded["mean"]["topic_env"], (topic_env - topic_env.mean(0)) / (topic_env.std(0) + 1e-6), rtol=1e-5, atol=1e-5
    )
    # relative: post − environment and the two distances, standardised on these (train) posts.
    pre, rel = fitted["relative"], encoded["relative"]
    assert rel["image_env"].shape == (n, 6) and rel["topic_env"].shape == (n, 4 + 2)
    for part in ("image_env", "topic_env"):
        np.testing.assert_allclose(rel[part].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(rel[part].std(0), 1, atol=1e-3)
    offset = rel["image_env"] * pre["env_image_std"] + pre["env_image_mean"]
    np.testing.assert_allclose(offset, post - env, rtol=1e-4, atol=1e-4)
    topic_part = rel["topic_env"] * pre["env_topic_std"] + pre["env_topic_mean"]
    np.testing.assert_allclose(topic_part[:, :4], topics - topic_env, atol=1e-5)
    np.testing.assert_allclose(topic_part[:, 4:], environment_distances(post, env, topics, topic_env), atol=1e-4)
    np.testing.assert_allclose(topic_part[0], [0, 0, 0, 0, 0, 0], atol=1e-4)  # no offset, no distance
    with pytest.raises(ValueError, match="'offset'"):
        fit_preprocessor(tokens, image, image_env, topics, topic_env, {**params, "environment_input": "offset"})
    stale = {k: v for k, v in pre.items() if k != "environment_input"}
    with pytest.raises(ValueError, match="re-run `kedro run --pipelines=dual_attention`"):
        encode_posts(stale, tokens, image, image_env, topics, topic_env)


def test_prepare_inputs_names_missing_columns():
    with pytest.raises(ValueError, match="user_environment"):
        prepare_inputs(pd.DataFrame({"post_id": ["a"]}), base_params("dual_attention"))


@pytest.fixture(scope="module")
def tiny_run(tiny_featured, tmp_path_factory):
    """user_environment + dual_attention on the tiny world through the project's own catalog."""
    root = tmp_path_factory.mktemp("dual_attention")
    catalog = project_catalog(root)
    for name in ("posts", "images", "image_embeddings", "ground_truth_posts", "ingestion_sources"):
        catalog.save(name, tiny_featured.load(name))
    ue = base_params("user_environment")
    ue["lda"] = {**ue["lda"], "passes": 5}
    da = base_params("dual_attention", seeds=[0])
    da["train"] = {**da["train"], "epochs": 3}
    catalog["params:user_environment"] = ue
    catalog["params:dual_attention"] = da
    for name in DUAL_ATTENTION_MODELS:
        catalog[f"params:dual_attention.models.{name}"] = da["models"][name]
    SequentialRunner().run(user_environment_pipeline() + dual_attention_pipeline(), catalog)
    return root, catalog


def test_pipeline_writes_the_results_contract(tiny_run):
    root, catalog = tiny_run
    results = catalog.load("dual_attention_metrics")
    model_input = catalog.load("user_environment_model_input")
    assert results["pipeline"] == "dual_attention" and set(results["models"]) == set(DUAL_ATTENTION_MODELS)
    assert results["dataset"].startswith("instaloader: ") and results["dataset"].endswith("sample_world/instaloader")
    assert results["split_sizes"] == {s: int((model_input["split"] == s).sum()) for s in ("train", "val", "test")}
    for metrics in [*results["models"].values(), results["oracle"]]:
        assert set(metrics) == {"precision", "recall", "f_measure", "accuracy"}
        assert all(0 <= v <= 100 for v in metrics.values())
    versions = list((root / "data/08_reporting/dual_attention/metrics.json").iterdir())
    assert len(versions) == 1 and json.loads((versions[0] / "metrics.json").read_text()) == results
    full = catalog.load("dual_attention_full_predictions")
    assert len(full) == results["split_sizes"]["val"] + results["split_sizes"]["test"]
    state = catalog.load("dual_attention_full_model")  # a state dict, loaded with weights_only=True
    assert "attention.W_a.weight" in state
    # The model index read every model's files back: one entry per model, the saved weights' own sizes and hash.
    index = catalog.load("dual_attention_model_index")
    assert list(index) == list(DUAL_ATTENTION_MODELS)
    assert index["full"]["weights"]["parameters"] == sum(t.numel() for t in state.values())
    assert index["full"]["weights"]["tensors"] == len(state)
    assert index["full"]["history"] == catalog.load("dual_attention_full_history")
    assert len({entry["weights"]["sha256"] for entry in index.values()}) == len(DUAL_ATTENTION_MODELS)


def test_pipeline_writes_the_analyses(tiny_run):
    _, catalog = tiny_run
    clusters = catalog.load("dual_attention_image_clusters")
    assert 1 <= len(clusters) <= 12 and clusters["R_train"].between(0, 1).all()
    words = catalog.load("dual_attention_word_statistics")
    assert (words["m_p_minus_m_n"] == words["m_p"] - words["m_n"]).all()
    samples = catalog.load("dual_attention_attention_samples")
    assert samples.groupby("post_id")["weight"].sum().round(3).eq(1).all()
    assert set(samples["label"]) == {0, 1}
    for name in ("results", "image_clusters", "word_statistics", "attention"):
        figure = catalog.load(f"dual_attention_{name}_plot")
        assert len(figure.data) >= 1
