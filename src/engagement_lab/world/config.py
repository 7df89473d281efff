"""Configuration of the sample world: one frozen dataclass, built from presets.

A preset is a named set of overrides (``tiny``, ``demo``, ``smpd``) applied on top
of the defaults below; explicit parameters win over the preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

EMOTIONS: tuple[str, ...] = ("joy", "love", "surprise", "anger", "sadness", "fear")
REACTIONS: tuple[str, ...] = ("haha", "sorry", "angry", "wow", "love")
FORMATS: tuple[str, ...] = ("smpd", "pixelrec", "crowdtangle", "instaloader")
DEFECT_KINDS: tuple[str, ...] = (
    "corrupt_image",
    "missing_image",
    "sentinel",
    "duplicate_id",
    "negative_count",
    "missing_count",
    "non_utf8",
    "zero_days",
)


@dataclass(frozen=True)
class WorldConfig:
    """Every knob of the simulator; the defaults are the ``demo`` preset."""

    seed: int = 42
    n_users: int = 150
    n_posts: int = 3000
    n_categories: int = 6
    n_subcategories: int = 18
    n_concepts: int = 54
    formats: tuple[str, ...] = FORMATS
    render_images: bool = True
    image_size: int = 96
    jpeg_quality: int = 90

    # Time: SMPD posts span 2015-03..2016-03 and views were recorded in 2016-07.
    start: str = "2015-03-01"
    end: str = "2016-03-01"
    observed_at: str = "2016-07-15"

    # Users.
    followers_log_mean: float = 6.5
    followers_log_sd: float = 1.5
    habits_per_user: int = 3
    habit_share: float = 0.75

    # Popularity (label units: log2(views/days) + 1). Each term has the stated spread.
    base_popularity: float = 5.0
    follower_effect: float = 1.0  # slope per standard deviation of log followers
    user_effect_sd: float = 0.6
    concept_appeal_sd: float = 0.7
    emotion_effects: tuple[float, ...] = (0.4, 0.5, 0.3, -0.2, -0.4, -0.3)
    novelty_effect: float = 0.6  # added when the concept is outside the user's habits
    # Log2 lift of likes per view on an off-habit post: followers used to a user's content like
    # a change more (the Instagram paper's user environment). It touches likes only, so views
    # (PPCL's label) and every other count stay the same draws.
    like_novelty_effect: float = 1.5
    hour_effect: float = 0.3  # amplitude of the time-of-day cycle, peak at 19:00 UTC
    weekend_effect: float = 0.15
    noise_share: float = 0.25  # share of the label's variance that is pure noise

    # Engagement counts derived from views: (rate, log-noise sd). Larger noise,
    # weaker correlation with views.
    like_rate: tuple[float, float] = (0.05, 0.25)
    favorite_rate: tuple[float, float] = (0.01, 0.6)
    comment_rate: tuple[float, float] = (0.004, 0.8)
    share_rate: tuple[float, float] = (0.002, 1.0)
    coin_rate: tuple[float, float] = (0.003, 0.9)
    barrage_rate: tuple[float, float] = (0.005, 1.0)
    # What the content does to the engagement rate (log2 of a multiplier on every count's per-view rate; views
    # and PPCL's label do not move): First Impressions' premise that content drives engagement, at a level where
    # content explains about half of the log engagement score (docs/decisions/020-learnable-engagement-rate.md).
    engagement_concept_sd: float = 0.5  # per-concept engagement appeal, drawn apart from the view appeal
    engagement_emotion_effects: tuple[float, ...] = (0.3, 0.4, 0.2, 0.1, -0.3, -0.2)  # joy ... fear
    engagement_hour_effect: float = 0.25  # amplitude of a time-of-day cycle of the rate, peak at 12:00 UTC
    reaction_rate: float = 0.2  # reactions per like
    reaction_focus: float = 0.6  # share of reactions on the emotion's own button
    max_comment_texts: int = 30
    interactions_per_item: int = 5  # PixelRec viewer interactions written per item

    # Transfer evaluation: a separate labelled image set (UnbiasedEmotion layout).
    emotion_subset_size: int = 600

    # Images: up to this share of each background colour is random, so that colour alone does not
    # give the emotion away (as in UnbiasedEmotion) and the texture is the reliable cue.
    palette_mix: float = 0.9
    texture_stroke: int = 2  # pixels; 1-pixel marks blur away when images are downscaled

    # Defects: the share of posts that receive each defect kind (disjoint posts).
    defect_share: float = 0.0
    defect_kinds: tuple[str, ...] = DEFECT_KINDS

    # SMPD quirks.
    smpd_names: str = "2019"  # "2019": train_allmetadata_json, "2020": train_all_json
    smpd_user_orient: str = "columns"  # "columns" or "records"

    def __post_init__(self) -> None:
        problems = []
        if self.n_users < 1 or self.n_posts < self.n_users:
            problems.append("need n_users >= 1 and n_posts >= n_users")
        if not self.n_categories <= self.n_subcategories <= self.n_concepts:
            problems.append("need n_categories <= n_subcategories <= n_concepts")
        if not 0.0 <= self.noise_share < 1.0:
            problems.append("noise_share must be in [0, 1)")
        if len(self.emotion_effects) != len(EMOTIONS):
            problems.append(f"emotion_effects needs {len(EMOTIONS)} values")
        if len(self.engagement_emotion_effects) != len(EMOTIONS):
            problems.append(f"engagement_emotion_effects needs {len(EMOTIONS)} values")
        if not 0.0 <= self.defect_share * len(self.defect_kinds) <= 0.5:
            problems.append("defect_share x number of defect kinds must be within [0, 0.5]")
        for name, allowed in (("formats", FORMATS), ("defect_kinds", DEFECT_KINDS)):
            unknown = set(getattr(self, name)) - set(allowed)
            if unknown:
                problems.append(f"unknown {name} {sorted(unknown)}; allowed {list(allowed)}")
        if self.smpd_names not in ("2019", "2020"):
            problems.append("smpd_names must be '2019' or '2020'")
        if self.smpd_user_orient not in ("columns", "records"):
            problems.append("smpd_user_orient must be 'columns' or 'records'")
        if problems:
            raise ValueError("Invalid sample world configuration: " + "; ".join(problems))


def _coerce(value: Any, default: Any) -> Any:
    """YAML gives lists where the dataclass holds tuples."""
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def build_config(params: dict[str, Any]) -> WorldConfig:
    """Build a config from the ``sample_world`` parameters: preset first, then overrides."""
    params = dict(params)
    presets = params.pop("presets", {})
    preset = params.pop("preset", "demo")
    if preset not in presets:
        raise ValueError(f"Unknown sample world preset {preset!r}; choose one of {sorted(presets)}")
    merged = {**presets[preset], **params}
    defaults = {f.name: f.default for f in dataclasses.fields(WorldConfig)}
    unknown = set(merged) - set(defaults)
    if unknown:
        raise ValueError(f"Unknown sample world parameters: {sorted(unknown)}")
    return WorldConfig(**{k: _coerce(v, defaults[k]) for k, v in merged.items()})


def config_to_dict(config: WorldConfig) -> dict[str, Any]:
    """Plain-dict view (lists, not tuples) for YAML/JSON outputs."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


__all__ = ["DEFECT_KINDS", "EMOTIONS", "FORMATS", "REACTIONS", "WorldConfig", "build_config", "config_to_dict"]
