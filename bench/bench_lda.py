"""Benchmark: gensim LDA training throughput, ``LdaModel`` against ``LdaMulticore``, on the same corpus.

The corpus is the sample world's Instagram-style captions (hashtags and emoji kept as tokens),
tokenised exactly as the user_environment pipeline does; the world is drawn without images so
any size is quick. Prints, side by side, docs/s = documents x passes / training seconds.

    .venv/bin/python bench/bench_lda.py [--posts 20000] [--topics 60] [--passes 2] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from engagement_lab.dual_attention.text import fit_lda, tokenize
from engagement_lab.world.config import WorldConfig
from engagement_lab.world.simulate import simulate


def corpus(n_posts: int, seed: int) -> list[list[str]]:
    config = WorldConfig(
        n_users=max(10, n_posts // 20),
        n_posts=n_posts,
        render_images=False,
        formats=("smpd",),
        seed=seed,
        emotion_subset_size=0,
    )
    return [tokenize(c) for c in simulate(config).posts["caption"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--topics", type=int, default=60)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    docs = corpus(args.posts, args.seed)
    rows = []
    for workers in args.workers:
        _, stats = fit_lda(
            docs, num_topics=args.topics, passes=args.passes, iterations=50, workers=workers, seed=args.seed
        )
        kind = "LdaMulticore" if workers > 1 else "LdaModel"
        rows.append((kind, workers, stats["docs"], stats["vocabulary"], stats["seconds"], stats["docs_per_s"]))
    out = sys.stdout
    out.write(
        f"LDA on {len(docs)} sample-world captions, {args.topics} topics, {args.passes} passes, {os.cpu_count()} CPUs\n"
    )
    out.write(f"{'model':<14}{'workers':>8}{'docs':>9}{'terms':>7}{'seconds':>9}{'docs/s':>10}\n")
    for kind, workers, n, terms, seconds, rate in rows:
        out.write(f"{kind:<14}{workers:>8}{int(n):>9}{int(terms):>7}{seconds:>9.1f}{rate:>10.0f}\n")


if __name__ == "__main__":
    main()
