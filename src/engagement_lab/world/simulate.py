"""The sample world's generative model: taxonomy, users, posts, popularity, engagement.

Everything is vectorised numpy driven by one seed. Each part of the world draws from
its own child stream of the seed, so a change to one part (say, the comments) does
not shift the random numbers of another (say, the popularity).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engagement_lab.world.config import DEFECT_KINDS, EMOTIONS, REACTIONS, WorldConfig

logger = logging.getLogger(__name__)

SMPD_CATEGORIES = (
    "Fashion",
    "Entertainment",
    "Travel&Active&Sports",
    "Holiday&Celebrations",
    "Whether&Season",
    "Animal",
    "Food",
    "Social&People",
    "Urban",
    "Electronics",
    "Family",
)
EMOTION_WORDS = {
    "joy": ("haha", "lol", "funny", "hilarious", "happy", "great", "fun", "awesome"),
    "love": ("love", "adorable", "beautiful", "cute", "sweet", "lovely", "gorgeous", "heart"),
    "surprise": ("wow", "amazing", "unbelievable", "omg", "whoa", "incredible", "unexpected", "shocked"),
    "anger": ("angry", "terrible", "awful", "outrageous", "hate", "disgusting", "furious", "shame"),
    "sadness": ("sad", "sorry", "miss", "cry", "tragic", "lonely", "rip", "heartbroken"),
    "fear": ("scary", "afraid", "creepy", "terrifying", "nervous", "danger", "horror", "worried"),
}
EMOTION_EMOJI = {"joy": "😂", "love": "❤️", "surprise": "😮", "anger": "😡", "sadness": "😢", "fear": "😱"}
FILLER_WORDS = (
    "the",
    "my",
    "a",
    "this",
    "with",
    "at",
    "in",
    "on",
    "for",
    "today",
    "and",
    "of",
    "our",
    "we",
    "i",
    "you",
    "me",
    "it",
    "is",
    "so",
    "just",
    "from",
    "to",
    "by",
    "after",
    "before",
    "day",
    "time",
    "look",
    "here",
    "new",
    "good",
    "little",
    "big",
    "nice",
    "really",
    "very",
    "one",
)
GENERIC_TAGS = ("photo", "nikon", "canon", "instagood", "2015", "picoftheday", "flickr", "iphone")
# Each emotion's own reaction button (VisE: haha, sorry=Sad, angry, wow, love); fear splits.
EMOTION_REACTION = {"joy": "haha", "love": "love", "surprise": "wow", "anger": "angry", "sadness": "sorry"}
TIMEZONES = (
    ("America/New_York", -18000),
    ("Europe/London", 0),
    ("Europe/Berlin", 3600),
    ("Asia/Tokyo", 32400),
    ("America/Los_Angeles", -28800),
    ("Australia/Sydney", 36000),
    ("Asia/Kolkata", 19800),
    ("America/Sao_Paulo", -10800),
)
DAY = 86_400


@dataclass(frozen=True)
class World:
    """The simulated world: truth tables. Only evaluation may read the truth columns."""

    config: WorldConfig
    taxonomy: pd.DataFrame
    users: pd.DataFrame
    posts: pd.DataFrame
    comments: pd.DataFrame


def _streams(seed: int) -> dict[str, np.random.Generator]:
    # New streams go last: spawning more children leaves the earlier ones unchanged.
    names = ("taxonomy", "users", "posts", "popularity", "engagement", "text", "comments", "defects", "likes")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """Unique pronounceable words that collide with no English word list above."""
    consonants, vowels = list("bdfgklmnprstvz"), list("aeiou")
    words: list[str] = []
    seen = set(FILLER_WORDS) | {w for ws in EMOTION_WORDS.values() for w in ws}
    while len(words) < n:
        n_syll = int(rng.integers(2, 4))
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(n_syll))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_taxonomy(config: WorldConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Category → subcategory → concept, with words, a view appeal and an engagement appeal per concept."""
    n_cat, n_sub, n_con = config.n_categories, config.n_subcategories, config.n_concepts
    cat_names = [SMPD_CATEGORIES[i] if i < len(SMPD_CATEGORIES) else f"Category{i}" for i in range(n_cat)]
    words = _pseudo_words(rng, 2 * n_sub + 4 * n_con)
    sub_words, con_words = words[: 2 * n_sub], words[2 * n_sub :]
    # Round-robin assignment keeps every parent non-empty for any sizes (6/18/54, 11/77/668).
    sub_cat = np.arange(n_sub) % n_cat
    con_sub = np.arange(n_con) % n_sub
    appeal = rng.normal(0.0, config.concept_appeal_sd, n_con)
    # Drawn last, so every draw above (and so the views) is the same as without it.
    engagement_appeal = rng.normal(0.0, config.engagement_concept_sd, n_con)
    rows = []
    for c in range(n_con):
        s = int(con_sub[c])
        k = int(sub_cat[s])
        rows.append(
            {
                "concept_id": c,
                "concept": con_words[4 * c],
                "subcategory_id": s,
                "subcategory": sub_words[2 * s],
                "category_id": k,
                "category": cat_names[k],
                "concept_words": con_words[4 * c : 4 * c + 4],
                "subcategory_words": sub_words[2 * s : 2 * s + 2],
                "appeal": float(appeal[c]),
                "engagement_appeal": float(engagement_appeal[c]),
            }
        )
    return pd.DataFrame(rows)


def make_users(config: WorldConfig, rng: np.random.Generator, n_concepts: int) -> pd.DataFrame:
    """Users with log-normal followers, a per-user effect, habits and a profile."""
    n = config.n_users
    log_followers = rng.normal(config.followers_log_mean, config.followers_log_sd, n)
    followers = np.maximum(1, np.round(np.exp(log_followers))).astype(np.int64)
    following = np.maximum(1, np.round(np.exp(rng.normal(5.5, 1.0, n)))).astype(np.int64)
    photo_count = np.maximum(1, np.round(np.exp(rng.normal(6.0, 1.2, n)))).astype(np.int64)
    habits = [sorted(rng.choice(n_concepts, config.habits_per_user, replace=False).tolist()) for _ in range(n)]
    tz = rng.integers(0, len(TIMEZONES), n)
    first = pd.Timestamp("2004-01-01", tz="UTC").value // 10**9
    span = (pd.Timestamp("2014-12-31", tz="UTC").value // 10**9) - first
    photo_firstdate = first + rng.integers(0, span, n)
    taken_lag = rng.integers(0, 400 * DAY, n)
    user_ids = np.arange(n)
    return pd.DataFrame(
        {
            "user_id": user_ids,
            "smpd_uid": [f"{1000 + i * 7}@N{10 + i % 90:02d}" for i in user_ids],
            "username": [f"user_{i:05d}" for i in user_ids],
            "fb_page_id": 100_000_000 + user_ids * 13,
            "followers": followers,
            "following": following,
            "photo_count": photo_count,
            "is_pro": rng.random(n) < 0.15,
            "can_buy_pro": rng.random(n) < 0.6,
            "is_public": rng.random(n) < 0.95,
            "timezone_id": [TIMEZONES[t][0] for t in tz],
            "timezone_offset": [TIMEZONES[t][1] for t in tz],
            "photo_firstdate": photo_firstdate,
            "photo_firstdatetaken": photo_firstdate - taken_lag,
            "total_views": np.round(photo_count * np.exp(rng.normal(4.0, 1.0, n))).astype(np.int64),
            "total_tags": np.round(photo_count * rng.uniform(1, 8, n)).astype(np.int64),
            "total_geotagged": np.round(photo_count * rng.uniform(0, 0.6, n)).astype(np.int64),
            "total_faves": np.round(photo_count * np.exp(rng.normal(0.5, 1.0, n))).astype(np.int64),
            "total_in_group": np.round(photo_count * rng.uniform(0, 3, n)).astype(np.int64),
            "user_description": [np.round(rng.normal(0, 1, 8), 6).tolist() for _ in range(n)],
            "location_description": [np.round(rng.normal(0, 1, 8), 6).tolist() for _ in range(n)],
            "user_effect": rng.normal(0.0, config.user_effect_sd, n),
            "emotion_mix": [rng.dirichlet(np.ones(len(EMOTIONS))).tolist() for _ in range(n)],
            "habits": habits,
        }
    )


def _draw_times(config: WorldConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Unix seconds: uniform days, hours peaking in the afternoon and evening (UTC)."""
    start = pd.Timestamp(config.start, tz="UTC").value // 10**9
    n_days = (pd.Timestamp(config.end, tz="UTC") - pd.Timestamp(config.start, tz="UTC")).days
    hour_weights = 1.0 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 17) / 24)
    hours = rng.choice(24, n, p=hour_weights / hour_weights.sum())
    return start + rng.integers(0, n_days, n) * DAY + hours * 3600 + rng.integers(0, 3600, n)


def _unique_per_user(user_id: np.ndarray, posted: np.ndarray) -> np.ndarray:
    """Nudge clashing timestamps by a second: instaloader names files by post time."""
    posted = posted.copy()
    while True:
        order = np.lexsort((posted, user_id))
        clash = (np.diff(posted[order]) == 0) & (np.diff(user_id[order]) == 0)
        if not clash.any():
            return posted
        posted[order[1:][clash]] += 1


def make_posts(
    config: WorldConfig, rngs: dict[str, np.random.Generator], taxonomy: pd.DataFrame, users: pd.DataFrame
) -> pd.DataFrame:
    """Posts with concept, emotion, time, every popularity component and engagement counts."""
    rng, n = rngs["posts"], config.n_posts
    # Every user posts at least once; the rest follow a heavy-tailed activity.
    activity = rng.pareto(1.5, config.n_users) + 1.0
    extra = rng.choice(config.n_users, n - config.n_users, p=activity / activity.sum())
    user_id = np.sort(np.concatenate([np.arange(config.n_users), extra]))
    habits = np.array(users["habits"].tolist())[user_id]
    on_habit = rng.random(n) < config.habit_share
    concept_id = np.where(
        on_habit,
        habits[np.arange(n), rng.integers(0, config.habits_per_user, n)],
        rng.integers(0, config.n_concepts, n),
    )
    # A random concept can land on a habit by chance: novelty is about the concept.
    on_habit = (habits == concept_id[:, None]).any(axis=1)
    mix = np.array(users["emotion_mix"].tolist())[user_id]
    emotion_id = (rng.random((n, 1)) > np.cumsum(mix, axis=1)).sum(axis=1)

    defect_kind = _plan_defects(config, rngs["defects"], n)
    observed = pd.Timestamp(config.observed_at, tz="UTC").value // 10**9
    posted = _draw_times(config, rng, n)
    zero_days = defect_kind == "zero_days"
    posted[zero_days] = observed - rng.integers(3600, DAY, zero_days.sum())
    posted = _unique_per_user(user_id, posted)
    days = (observed - posted) // DAY

    # Popularity: the planted sum of components (label units) plus noise.
    dt = pd.to_datetime(posted, unit="s", utc=True)
    log_f = np.log(users["followers"].to_numpy()[user_id])
    follower_term = config.follower_effect * (log_f - config.followers_log_mean) / config.followers_log_sd
    user_term = users["user_effect"].to_numpy()[user_id]
    concept_term = taxonomy["appeal"].to_numpy()[concept_id]
    emotion_term = np.asarray(config.emotion_effects)[emotion_id]
    novelty_term = np.where(on_habit, 0.0, config.novelty_effect)
    time_term = config.hour_effect * np.cos(2 * np.pi * (dt.hour.to_numpy() - 19) / 24) + config.weekend_effect * (
        dt.day_of_week.to_numpy() >= 5
    )
    oracle = config.base_popularity + follower_term + user_term + concept_term + emotion_term + novelty_term + time_term
    noise_sd = np.sqrt(config.noise_share / (1 - config.noise_share) * oracle.var())
    noise = rngs["popularity"].normal(0.0, noise_sd, n)
    latent = oracle + noise
    # A post seen on its first day has had a fraction of a day of exposure.
    exposure_days = np.where(days > 0, days, (observed - posted) / DAY)
    views = np.maximum(1, np.round(exposure_days * 2.0 ** (latent - 1))).astype(np.int64)

    posts = pd.DataFrame(
        {
            "post_id": np.arange(n),
            "user_id": user_id,
            "posted_at": pd.to_datetime(posted, unit="s", utc=True),
            "observed_at": pd.Timestamp(config.observed_at, tz="UTC"),
            "days": days,
            "concept_id": concept_id,
            "subcategory_id": taxonomy["subcategory_id"].to_numpy()[concept_id],
            "category_id": taxonomy["category_id"].to_numpy()[concept_id],
            "concept": taxonomy["concept"].to_numpy()[concept_id],
            "subcategory": taxonomy["subcategory"].to_numpy()[concept_id],
            "category": taxonomy["category"].to_numpy()[concept_id],
            "emotion": np.asarray(EMOTIONS)[emotion_id],
            "on_habit": on_habit,
            "follower_term": follower_term,
            "user_term": user_term,
            "concept_term": concept_term,
            "emotion_term": emotion_term,
            "novelty_term": novelty_term,
            "time_term": time_term,
            "oracle_score": oracle,
            "noise": noise,
            "latent_score": latent,
            "views": views,
            "engagement_term": _engagement_term(config, taxonomy, concept_id, emotion_id, dt),
            "defect": defect_kind,
        }
    )
    posts = pd.concat([posts, _engagement(config, rngs["engagement"], posts)], axis=1)
    posts["likes"] = _lift_novel_likes(config, rngs["likes"], posts)
    with np.errstate(divide="ignore"):
        posts["label"] = np.log2(posts["views"] / posts["days"]) + 1  # SMPD's label; inf at zero days
    # Native ids per format, as each platform spells them.
    posts["smpd_pid"] = (posts["post_id"] + 1000).astype(str)
    posts["pixelrec_item_id"] = posts["post_id"] + 1
    posts["fb_post_id"] = (
        users["fb_page_id"].to_numpy()[user_id].astype(str) + "_" + (posts["post_id"] + 5000).astype(str)
    )
    posts["ig_shortcode"] = [_shortcode(i) for i in posts["post_id"]]
    return posts


def _shortcode(i: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value, out = i * 2654435761 % (64**10), []
    for _ in range(10):
        value, r = divmod(value, 64)
        out.append(alphabet[r])
    return "B" + "".join(out)


def _engagement_term(
    config: WorldConfig, taxonomy: pd.DataFrame, concept_id: np.ndarray, emotion_id: np.ndarray, dt: pd.DatetimeIndex
) -> np.ndarray:
    """Log2 of the content's multiplier on every count's per-view rate: concept, emotion and posting hour."""
    hour = config.engagement_hour_effect * np.cos(2 * np.pi * (dt.hour.to_numpy() - 12) / 24)
    emotion = np.asarray(config.engagement_emotion_effects)[emotion_id]
    return taxonomy["engagement_appeal"].to_numpy()[concept_id] + emotion + hour


def _counts(rng: np.random.Generator, views: np.ndarray, rate: tuple[float, float], lift=1.0) -> np.ndarray:
    mean = views * rate[0] * lift * np.exp(rng.normal(-(rate[1] ** 2) / 2, rate[1], len(views)))
    return rng.poisson(mean).astype(np.int64)


def _engagement(config: WorldConfig, rng: np.random.Generator, posts: pd.DataFrame) -> pd.DataFrame:
    """Likes, comments, shares, favorites, coins, barrage and reactions derived from views, each at its rate
    times the content's multiplier (``engagement_term``)."""
    views = posts["views"].to_numpy().astype(float)
    emotion = posts["emotion"].to_numpy()
    content = 2.0 ** posts["engagement_term"].to_numpy()
    # Arousing emotions draw more comments and shares than calm ones.
    talk = content * np.select([np.isin(emotion, ["anger", "surprise"]), emotion == "sadness"], [1.6, 1.2], 1.0)
    likes = _counts(rng, views, config.like_rate, content)
    out = {
        "likes": likes,
        "comments": _counts(rng, views, config.comment_rate, talk),
        "shares": _counts(rng, views, config.share_rate, talk),
        "favorites": _counts(rng, views, config.favorite_rate, content),
        "coins": _counts(rng, views, config.coin_rate, content),
        "barrage": _counts(rng, views, config.barrage_rate, content),
    }
    mix = np.full((len(EMOTIONS), len(REACTIONS)), (1 - config.reaction_focus) / len(REACTIONS))
    for e, emo in enumerate(EMOTIONS):
        own = [EMOTION_REACTION[emo]] if emo in EMOTION_REACTION else ["sorry", "wow"]
        for r in own:
            mix[e, REACTIONS.index(r)] += config.reaction_focus / len(own)
    n_reactions = rng.poisson(likes * config.reaction_rate)
    emotion_idx = pd.Categorical(emotion, categories=EMOTIONS).codes
    reactions = rng.multinomial(n_reactions, mix[emotion_idx])
    for r, name in enumerate(REACTIONS):
        out[f"reaction_{name}"] = reactions[:, r].astype(np.int64)
    return pd.DataFrame(out, index=posts.index)


def _lift_novel_likes(config: WorldConfig, rng: np.random.Generator, posts: pd.DataFrame) -> np.ndarray:
    """The likes, with those of off-habit posts redrawn at ``like_novelty_effect`` on the like rate.

    The draw comes from its own stream so that every other count, reactions included, keeps its
    draws; reactions follow the emotion, not the novelty.
    """
    likes = posts["likes"].to_numpy().copy()
    off = ~posts["on_habit"].to_numpy()
    if config.like_novelty_effect != 0.0:  # at 0 the world is the one drawn before the lift existed
        views = posts["views"].to_numpy()[off].astype(float)
        content = 2.0 ** posts["engagement_term"].to_numpy()[off]
        likes[off] = _counts(rng, views, config.like_rate, content * 2.0**config.like_novelty_effect)
    return likes


def _plan_defects(config: WorldConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """One defect kind (or '') per post; each kind hits a disjoint share of posts."""
    kinds = np.full(n, "", dtype=object)
    per_kind = int(round(config.defect_share * n))
    if per_kind == 0:
        return kinds
    chosen = rng.permutation(n)[: per_kind * len(config.defect_kinds)]
    for i, kind in enumerate(config.defect_kinds):
        kinds[chosen[i * per_kind : (i + 1) * per_kind]] = kind
    return kinds


def _join(tokens: np.ndarray) -> list[str]:
    return [" ".join(t for t in row if t) for row in tokens]


def add_text(config: WorldConfig, rng: np.random.Generator, taxonomy: pd.DataFrame, posts: pd.DataFrame) -> None:
    """Titles, tags, captions and descriptions from concept, emotion and filler words (in place)."""
    n = len(posts)
    con_words = np.array(taxonomy["concept_words"].tolist())[posts["concept_id"]]  # (n, 4)
    sub_words = np.array(taxonomy["subcategory_words"].tolist())[posts["concept_id"]]  # (n, 2)
    emo_words = np.array([EMOTION_WORDS[e] for e in EMOTIONS])[
        pd.Categorical(posts["emotion"], categories=EMOTIONS).codes
    ]  # (n, 8)
    emoji = np.array([EMOTION_EMOJI[e] for e in posts["emotion"]])
    filler = np.asarray(FILLER_WORDS)

    def pick(words: np.ndarray, size: int) -> np.ndarray:
        return np.take_along_axis(words, rng.integers(0, words.shape[1], (n, size)), axis=1)

    def maybe(tokens: np.ndarray, p: float) -> np.ndarray:
        return np.where(rng.random(tokens.shape) < p, tokens, "")

    fill = filler[rng.integers(0, len(filler), (n, 4))]
    posts["title"] = _join(np.column_stack([fill[:, 0], pick(con_words, 2), maybe(pick(emo_words, 1), 0.5)]))
    category_tag = posts["category"].str.lower().str.replace("&", "", regex=False).to_numpy()
    generic = np.asarray(GENERIC_TAGS)[rng.integers(0, len(GENERIC_TAGS), (n, 1))]
    tags = np.column_stack([pick(con_words, 2), pick(sub_words, 1), category_tag, maybe(generic, 0.5)])
    posts["tags"] = [list(dict.fromkeys(t for t in row if t)) for row in tags]
    hashtags = np.char.add("#", pick(con_words, 2).astype(str))
    posts["caption"] = _join(
        np.column_stack(
            [
                fill[:, 1:3],
                pick(con_words, 1),
                pick(emo_words, 1),
                maybe(emoji[:, None], 0.7),
                hashtags[:, :1],
                maybe(hashtags[:, 1:], 0.5),
            ]
        )
    )
    posts["description"] = _join(
        np.column_stack([fill[:, 3], pick(con_words, 2), pick(sub_words, 1), maybe(pick(emo_words, 1), 0.5)])
    )


def make_comments(
    config: WorldConfig, rng: np.random.Generator, taxonomy: pd.DataFrame, posts: pd.DataFrame
) -> pd.DataFrame:
    """Comment texts (at most ``max_comment_texts`` per post) that carry the post's emotion."""
    n_texts = np.minimum(posts["comments"].to_numpy(), config.max_comment_texts)
    post_idx = np.repeat(np.arange(len(posts)), n_texts)
    m = len(post_idx)
    if m == 0:
        return pd.DataFrame(columns=["comment_id", "post_id", "parent_id", "created_at", "text"])
    emotion_codes = pd.Categorical(posts["emotion"].to_numpy()[post_idx], categories=EMOTIONS).codes
    emo_words = np.array([EMOTION_WORDS[e] for e in EMOTIONS])[emotion_codes]
    con_words = np.array(taxonomy["concept_words"].tolist())[posts["concept_id"].to_numpy()[post_idx]]
    n_tokens = 6
    source = rng.choice(3, (m, n_tokens), p=[0.45, 0.2, 0.35])
    emo_tok = np.take_along_axis(emo_words, rng.integers(0, emo_words.shape[1], (m, n_tokens)), axis=1)
    con_tok = np.take_along_axis(con_words, rng.integers(0, con_words.shape[1], (m, n_tokens)), axis=1)
    fil_tok = np.asarray(FILLER_WORDS)[rng.integers(0, len(FILLER_WORDS), (m, n_tokens))]
    tokens = np.select([source == 0, source == 1], [emo_tok, con_tok], fil_tok)
    length = rng.integers(3, n_tokens + 1, m)
    tokens = np.where(np.arange(n_tokens)[None, :] < length[:, None], tokens, "")
    emoji = np.array([EMOTION_EMOJI[e] for e in EMOTIONS])[emotion_codes]
    tokens = np.column_stack([tokens, np.where(rng.random(m) < 0.3, emoji, "")])
    posted = pd.DatetimeIndex(posts["posted_at"]).take(post_idx)
    created = posted + pd.to_timedelta(rng.integers(60, 3 * DAY, m), unit="s")
    comment_id = np.arange(m) + 1
    # About one in five comments replies to the previous comment on the same post.
    first_of_post = np.r_[True, post_idx[1:] != post_idx[:-1]]
    is_reply = (rng.random(m) < 0.2) & ~first_of_post
    parent = np.where(is_reply, comment_id - 1, 0)
    return pd.DataFrame(
        {
            "comment_id": comment_id,
            "post_id": posts["post_id"].to_numpy()[post_idx],
            "parent_id": parent,
            "created_at": created,
            "text": _join(tokens),
        }
    )


def simulate(config: WorldConfig) -> World:
    """Draw one world from the config. Same config, same world."""
    rngs = _streams(config.seed)
    taxonomy = make_taxonomy(config, rngs["taxonomy"])
    users = make_users(config, rngs["users"], config.n_concepts)
    posts = make_posts(config, rngs, taxonomy, users)
    add_text(config, rngs["text"], taxonomy, posts)
    needs_comments = "crowdtangle" in config.formats
    comments = make_comments(config, rngs["comments"], taxonomy, posts) if needs_comments else pd.DataFrame()
    logger.info(
        "Simulated %d users, %d posts, %d comments (%d posts with a defect)",
        len(users),
        len(posts),
        len(comments),
        int((posts["defect"] != "").sum()),
    )
    return World(config, taxonomy, users, posts, comments)


__all__ = ["DEFECT_KINDS", "World", "simulate"]
