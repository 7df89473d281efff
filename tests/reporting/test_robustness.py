"""The robustness tables: claims' verdicts across worlds and each model's mean ± std, from results contracts."""

from __future__ import annotations

import pytest

from engagement_lab.core.results import results_contract
from engagement_lab.reporting.robustness import CLAIMS, claim_verdict, model_table, robustness_markdown
from engagement_lab.reporting.tables import not_run


def ppcl(full: float, no_cl: float, rnc: float = 0.9) -> dict:
    models = {"full": {"test_mae": full}, "no_cl": {"test_mae": no_cl}, "rnc": {"test_mae": rnc}}
    return results_contract("ppcl", "smpd: data", {"train": 8}, [0, 1, 2], models)


CLAIM = next(c for c in CLAIMS if c.text == "PPCL beats w/o CL (test MAE)")


@pytest.mark.parametrize(
    ("worlds", "verdict", "per_world"),
    [
        ({1: {"ppcl": ppcl(0.80, 0.85)}, 2: {"ppcl": ppcl(0.70, 0.75)}}, "all", {1: True, 2: True}),
        ({1: {"ppcl": ppcl(0.80, 0.85)}, 2: {"ppcl": ppcl(0.80, 0.75)}}, "some", {1: True, 2: False}),
        ({1: {"ppcl": ppcl(0.90, 0.85)}, 2: {"ppcl": ppcl(0.75, 0.75)}}, "none", {1: False, 2: False}),
        ({1: {"ppcl": not_run("ppcl", "ppcl", "no posts")}, 2: {}}, "not checked", {1: None, 2: None}),
    ],
)
def test_a_claim_holds_in_all_some_or_no_worlds(worlds, verdict, per_world):
    result = claim_verdict(CLAIM, worlds)
    assert result["verdict"] == verdict and result["per_world"] == per_world  # a tie is not a win


def test_model_table_gives_mean_std_and_wins_across_worlds():
    worlds = {1: {"ppcl": ppcl(0.80, 0.85, 0.70)}, 2: {"ppcl": ppcl(0.70, 0.75, 0.90)}, 3: {"ppcl": ppcl(0.60, 0.9)}}
    rows = {row["model"]: row for row in model_table("ppcl", worlds)}
    assert rows["full"]["mean"] == pytest.approx(0.70) and rows["full"]["std"] == pytest.approx(0.10)
    assert rows["full"]["wins"] == 2 and rows["rnc"]["wins"] == 1 and rows["no_cl"]["wins"] == 0
    assert [row["model"] for row in model_table("ppcl", worlds)][0] == "full"  # lower MAE first


def test_the_page_shows_every_claim_and_says_where_a_method_loses():
    page = robustness_markdown({7: {"ppcl": ppcl(0.9, 0.85)}, 42: {"ppcl": ppcl(0.8, 0.85)}}, "> header")
    assert "World seeds: 7, 42." in page and "> header" in page
    assert "| PPCL beats w/o CL (test MAE) | no | yes | some |" in page
    assert "| VisE beats Random Init under linear evaluation | — | — | not checked |" in page
    assert "| full | 0.900 | 0.800 | 0.850 ± 0.071 | 1 |" in page
