"""``torchrun`` entry point of the features pipeline: image and text embedding, data parallel over processes.

    python -m torch.distributed.run --standalone --nproc_per_node=4 -m engagement_lab.pipelines.features.torchrun

(``torchrun`` is the same launcher; docs/pipelines/features.md has the multi-node recipe.) Every rank loads the
canonical ``images`` and ``posts`` and the previous embeddings through the project's catalog and plans the same
work (what the cache lacks for this encoder setting, exactly as the ``embed_images`` and ``embed_post_texts``
nodes do); each rank embeds every N-th item on its own device (CUDA: ``cuda:$LOCAL_RANK``, NCCL; CPU: OpenVINO or
torch, Gloo), rank 0 gathers the vectors and saves ``post_texts``, ``image_embeddings`` and ``text_embeddings``:
the same tables, and the same cache, as ``kedro run --pipelines=features``. It lives in the pipeline layer: it
opens a Kedro session.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from engagement_lab.features import openvino_encoders
from engagement_lab.features.distributed import embed_sharded
from engagement_lab.features.embedding_cache import assemble, plan
from engagement_lab.features.encoders import IMAGE_DIM, TEXT_DIM, encoder_setting
from engagement_lab.features.post_texts import build_post_texts

from .nodes import image_encoder, text_encoder

logger = logging.getLogger("engagement_lab.pipelines.features.torchrun")  # __name__ is "__main__" under -m
# kind → (cache dataset, output dataset, key column, input column, vector size, the node's encoder factory)
KINDS = {
    "images": ("image_embedding_cache", "image_embeddings", "sha1", "path", IMAGE_DIM, image_encoder),
    "texts": ("text_embedding_cache", "text_embeddings", "text_sha1", "text", TEXT_DIM, text_encoder),
}


def _init_process_group() -> tuple[int, bool]:
    """This process's rank, and whether it runs under a process group (``WORLD_SIZE`` > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), True


def _inputs(catalog, kind: str, rank: int) -> pd.DataFrame:
    """The canonical images, or the post texts built from the posts (saved by rank 0, as the pipeline does)."""
    if kind == "images":
        return catalog.load("images")
    post_texts = build_post_texts(catalog.load("posts"))
    if rank == 0:
        catalog.save("post_texts", post_texts)
    return post_texts


def _embed_into_cache(catalog, kind: str, params: dict, rank: int) -> None:
    """Plan on every rank, embed a shard on each, assemble and save on rank 0."""
    cache_name, out_name, key, column, dim, make_encoder = KINDS[kind]
    frame = _inputs(catalog, kind, rank)
    encoder, embed = make_encoder(params)
    cache_plan = plan(frame[key], frame[column], catalog.load(cache_name), key, encoder)
    vectors = embed_sharded(embed, cache_plan.todo["input"].tolist(), dim)
    if rank == 0:
        table, stats = assemble(cache_plan, vectors)
        catalog.save(out_name, table)
        logger.info(
            "features (torchrun, %d processes): %s %s",
            dist.get_world_size() if dist.is_initialized() else 1,
            kind,
            stats,
        )


def _export_first(params: dict, kinds: list[str], distributed: bool) -> None:
    """Each machine's first process (``LOCAL_RANK`` 0) exports the OpenVINO encoders if its cache lacks them,
    while the others wait, so that no machine exports twice."""
    setting = encoder_setting(params["device"], params["backend"], params["precision"])
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and setting.backend == "openvino":
        for kind in kinds:
            openvino_encoders.exported_model("image" if kind == "images" else "text", params["export_dir"])
    if distributed:
        dist.barrier()


def main(argv: list[str] | None = None) -> None:
    """Embed the canonical images and post texts data parallel and save them to the catalog's caches."""
    parser = argparse.ArgumentParser(
        prog="python -m engagement_lab.pipelines.features.torchrun", description=main.__doc__
    )
    parser.add_argument("--only", choices=sorted(KINDS), default=None, help="embed only images or only texts")
    parser.add_argument("--env", default=None, help="Kedro configuration environment, e.g. paper")
    parser.add_argument("--project-path", default=".", help="the Kedro project (default: the current folder)")
    args = parser.parse_args(argv)

    rank, distributed = _init_process_group()
    project = Path(args.project_path).resolve()
    bootstrap_project(project)
    if distributed and rank != 0:
        dist.barrier()  # rank 0 first: its session creates the MLflow store, which must not be created twice
    try:
        with KedroSession.create(project_path=project, env=args.env) as session:
            context = session.load_context()
            if distributed and rank == 0:
                dist.barrier()
            params = context.params["features"]
            kinds = [args.only] if args.only else list(KINDS)
            _export_first(params, kinds, distributed)
            for kind in kinds:
                _embed_into_cache(context.catalog, kind, params, rank)
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
