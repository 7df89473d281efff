"""``torchrun`` entry point of pretraining: the node's training, data parallel over processes (and machines).

    python -m torch.distributed.run --nproc_per_node=4 -m engagement_lab.pipelines.pretraining.torchrun \
        --variant vise --env paper

(``torchrun`` is the same launcher.) It loads the pseudo-labels and parameters through the project's
catalog, runs :func:`engagement_lab.vise.train.train` under DistributedDataParallel (NCCL on GPUs, Gloo
on CPUs), and from rank 0 logs per-epoch metrics to an MLflow run and saves the backbone as a new version
of ``pretraining_<variant>_backbone``. It lives in the pipeline layer: it opens a Kedro session.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import mlflow
import torch
import torch.distributed as dist
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from engagement_lab.mlflow_artifacts import log_saved_artifact
from engagement_lab.vise.train import TrainConfig, cluster_counts, train


def main(argv: list[str] | None = None) -> None:
    """Train one pretraining variant with DistributedDataParallel and save its backbone to the catalog."""
    parser = argparse.ArgumentParser(
        prog="python -m engagement_lab.pipelines.pretraining.torchrun", description=main.__doc__
    )
    parser.add_argument("--variant", default="vise", help="a key of pretraining.variants (default: vise)")
    parser.add_argument("--env", default=None, help="Kedro configuration environment, e.g. paper")
    parser.add_argument("--project-path", default=".", help="the Kedro project (default: the current folder)")
    args = parser.parse_args(argv)

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    project = Path(args.project_path).resolve()
    bootstrap_project(project)
    if distributed and rank != 0:
        dist.barrier()  # rank 0 first: it creates the MLflow store, which must not be created twice
    with KedroSession.create(project_path=project, env=args.env) as session:
        context = session.load_context()
        if distributed and rank == 0:
            dist.barrier()
        params = context.params["pretraining"]
        if args.variant not in params["variants"]:
            raise SystemExit(f"Unknown variant {args.variant!r}; pretraining.variants has {sorted(params['variants'])}")
        variant = params["variants"][args.variant]
        config = TrainConfig.from_params({**params["config"], "tasks": variant["tasks"]})
        catalog = context.catalog
        labels, report = catalog.load("vise_pseudo_labels"), catalog.load("vise_cluster_report")

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics({f"pretraining.{args.variant}.{k}": v for k, v in metrics.items()}, step=epoch)

        # MLflow from rank 0 only: train calls log_epoch on rank 0 alone.
        run = mlflow.start_run(run_name=f"torchrun pretraining {args.variant}") if rank == 0 else None
        try:
            backbone, _ = train(config, labels, cluster_counts(report), variant["checkpoint"], on_epoch_end=log_epoch)
            if rank == 0:
                mlflow.log_params(
                    {
                        "variant": args.variant,
                        "world_size": dist.get_world_size() if distributed else 1,
                        **dataclasses.asdict(config),
                    }
                )
                dataset = f"pretraining_{args.variant}_backbone"  # the pipeline's output of that variant
                catalog.save(dataset, backbone)
                log_saved_artifact(catalog, dataset)
        finally:
            if run is not None:
                mlflow.end_run()
            if distributed:
                dist.destroy_process_group()


if __name__ == "__main__":
    main()
