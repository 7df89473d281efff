"""A synthetic world where popularity is novelty: a post off its user's habits is popular.

Only a model that sees the user environment can tell a novel post from a habitual one, since
every concept is as appealing as any other; the truth (``novel``) gives the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def novelty_posts(
    n_users: int = 60, per_user: int = 40, n_concepts: int = 16, dim: int = 24, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = [f"con{c}cept" for c in range(n_concepts)]
    prototypes = rng.normal(0, 1, (n_concepts, dim))
    rows = []
    for u in range(n_users):
        habits = rng.choice(n_concepts, 3, replace=False)
        for i in range(per_user):
            concept = rng.choice(habits) if rng.random() < 0.7 else rng.integers(n_concepts)
            novel = concept not in habits
            score = 1.0 * novel + rng.normal(0, 0.3)
            rows.append(
                {
                    "post_id": f"u{u}:{i}",
                    "user_id": f"u{u}",
                    "caption": f"my {words[concept]} today #{words[concept]} 😂",
                    "likes": int(np.exp(5 + score)),
                    "novel": novel,
                    "image": (prototypes[concept] + rng.normal(0, 0.5, dim)).astype(np.float32),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def novelty_world() -> pd.DataFrame:
    return novelty_posts()
