"""Bad sample-world parameters fail early with a message that names the problem."""

from __future__ import annotations

import pytest

from engagement_lab.world.config import WorldConfig, build_config
from tests.conftest import world_params


def test_presets_build():
    for preset in ["tiny", "demo", "smpd", "paper"]:
        config = build_config(world_params(preset=preset))
        assert config.n_posts >= config.n_users
    smpd = build_config(world_params(preset="smpd"))
    assert (smpd.n_posts, smpd.n_users, smpd.render_images, smpd.formats) == (305_000, 38_307, False, ("smpd",))
    paper = build_config(world_params(preset="paper"))
    assert (paper.n_categories, paper.n_subcategories, paper.n_concepts) == (11, 77, 668)


def test_explicit_parameters_override_the_preset():
    assert build_config(world_params(preset="tiny", n_posts=999)).n_posts == 999


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"preset": "huge"}, "Unknown sample world preset 'huge'"),
        ({"n_postz": 3}, "Unknown sample world parameters: ['n_postz']"),
        ({"formats": ["smpd", "tiktok"]}, "unknown formats ['tiktok']"),
        ({"noise_share": 1.5}, "noise_share must be in [0, 1)"),
        ({"n_users": 10, "n_posts": 5}, "n_posts >= n_users"),
        ({"smpd_user_orient": "index"}, "smpd_user_orient"),
        ({"defect_share": 0.2}, "defect_share"),
    ],
)
def test_bad_parameters_are_named(overrides, message):
    with pytest.raises(ValueError) as error:
        build_config(world_params(**overrides))
    assert message in str(error.value)


def test_defaults_are_valid():
    WorldConfig()
