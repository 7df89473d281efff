"""Write the world in the four published raw layouts, byte for byte, with their quirks.

Each writer returns ``{relative path: bytes}`` (one Kedro ``PartitionedDataset``
partition per file) and the list of defects it actually wrote, so that tests and
ingestion can check what happened to every record.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
from collections.abc import Iterable

import numpy as np
import pandas as pd

from engagement_lab.world.config import EMOTIONS
from engagement_lab.world.render import concept_style, encode_jpeg, render_image
from engagement_lab.world.simulate import World

# Defective bytes are written through this marker so the writers stay plain text.
NON_UTF8_MARKER = "\u2063NONUTF8\u2063"
NON_UTF8_BYTES = b"caf\xe9 cr\xe8me"  # latin-1, invalid as UTF-8
DEFECT_COLUMNS = ["format", "post_id", "record", "kind", "field"]

Files = dict[str, bytes]


def _finish(files: dict[str, str | bytes]) -> Files:
    """Encode text files as UTF-8 and splice in the non-UTF-8 defect bytes."""
    marker = NON_UTF8_MARKER.encode()
    out = {}
    for path, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        out[path] = data.replace(marker, NON_UTF8_BYTES) if marker in data else data
    return out


def unix_seconds(times: pd.Series) -> pd.Series:
    """Unix seconds, whatever the resolution pandas chose for the datetimes."""
    return times.dt.as_unit("s").astype("int64")


def _csv(header: list[str], rows: Iterable[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _image_files(
    posts: pd.DataFrame, images: dict[int, bytes], paths: pd.Series, fmt: str, defects: list[dict]
) -> dict[str, bytes]:
    """Image files for posts that have one; corrupt ones are cut short, missing ones skipped."""
    files = {}
    if not images:
        return files
    for post_id, path, defect in zip(posts["post_id"], paths, posts["defect"], strict=True):
        data = images[int(post_id)]
        if defect == "missing_image":
            defects.append(dict(format=fmt, post_id=post_id, record=path, kind=defect, field="image"))
            continue
        if defect == "corrupt_image":
            data = data[: len(data) // 3]
            defects.append(dict(format=fmt, post_id=post_id, record=path, kind=defect, field="image"))
        files[path] = data
    return files


def _text_with_defect(text: pd.Series, defect: pd.Series) -> pd.Series:
    return text.where(defect != "non_utf8", text + " " + NON_UTF8_MARKER)


def _note(defects: list[dict], fmt: str, posts: pd.DataFrame, kind: str, record: pd.Series, field: str) -> None:
    hit = posts["defect"] == kind
    for post_id, ref in zip(posts.loc[hit, "post_id"], record.loc[hit[hit].index], strict=True):
        defects.append(dict(format=fmt, post_id=post_id, record=str(ref), kind=kind, field=field))


def _with_duplicates(posts: pd.DataFrame) -> pd.DataFrame:
    """Append a second copy of every post carrying the duplicate_id defect."""
    return pd.concat([posts, posts[posts["defect"] == "duplicate_id"]], ignore_index=True)


def write_smpd(world: World, images: dict[int, bytes]) -> tuple[Files, list[dict]]:
    """SMPD (Flickr) layout: aligned JSON arrays, labels and image paths, numbers as strings."""
    cfg, defects = world.config, []
    users = world.users.set_index("user_id")
    posts = world.posts.merge(world.users[["user_id", "smpd_uid", "username"]], on="user_id")
    posts = _with_duplicates(posts)
    root = "train_allmetadata_json" if cfg.smpd_names == "2019" else "train_all_json"
    pid, uid, defect = posts["smpd_pid"], posts["smpd_uid"], posts["defect"]
    record = root + "/train_*.json#Pid=" + pid

    category = [
        {"Pid": p, "Uid": u, "Category": c, "Subcategory": s, "Concept": k}
        for p, u, c, s, k in zip(pid, uid, posts["category"], posts["subcategory"], posts["concept"], strict=True)
    ]
    titles = _text_with_defect(posts["title"], defect)
    _note(defects, "smpd", posts, "non_utf8", record, "Title")
    text = [
        {"Pid": p, "Uid": u, "Title": t, "Mediatype": "photo", "Alltags": " ".join(tags)}
        for p, u, t, tags in zip(pid, uid, titles, posts["tags"], strict=True)
    ]
    postdate = unix_seconds(posts["posted_at"]).astype(str)
    temporal = [
        {"Pid": p, "Uid": u, "Postdate": d, "Latitude": "0", "Longitude": "0", "Geoaccuracy": "0"}
        for p, u, d in zip(pid, uid, postdate, strict=True)
    ]

    u = users.loc[posts["user_id"]]
    photo_count = u["photo_count"].astype(str).to_numpy().copy()
    ispro = u["is_pro"].astype(int).astype(str).to_numpy().copy()
    photo_count[(defect == "sentinel").to_numpy()] = "None"
    ispro[(defect == "sentinel").to_numpy()] = "None"
    photo_count[(defect == "negative_count").to_numpy()] = "-" + photo_count[(defect == "negative_count").to_numpy()]
    _note(defects, "smpd", posts, "sentinel", record, "photo_count,ispro")
    _note(defects, "smpd", posts, "negative_count", record, "photo_count")
    user_rows = pd.DataFrame(
        {
            "Pid": pid,
            "Uid": uid,
            "photo_firstdate": u["photo_firstdate"].astype(str).to_numpy(),
            "photo_firstdatetaken": u["photo_firstdatetaken"].astype(str).to_numpy(),
            "photo_count": photo_count,
            "ispro": ispro,
            "canbuypro": u["can_buy_pro"].astype(int).astype(str).to_numpy(),
            "timezone_offset": u["timezone_offset"].astype(str).to_numpy(),
            "timezone_timezone_id": u["timezone_id"].to_numpy(),
            "user_description": [",".join(f"{x:g}" for x in v) for v in u["user_description"]],
            # Real SMPD has empty descriptions as a lone newline.
            "location_description": [
                "\n" if i % 5 == 0 else ",".join(f"{x:g}" for x in v)
                for i, v in zip(posts["user_id"], u["location_description"], strict=True)
            ],
        }
    )
    if cfg.smpd_user_orient == "columns":
        user_json = {col: {str(i): v for i, v in enumerate(user_rows[col])} for col in user_rows.columns}
    else:
        user_json = user_rows.to_dict(orient="records")
    additional = [
        {"Pid": p, "Uid": u_, "Pathalias": a, "Ispublic": "1", "Mediastatus": "ready"}
        for p, u_, a in zip(pid, uid, posts["username"], strict=True)
    ]

    labels = posts["label"].map(lambda x: "inf" if np.isinf(x) else f"{x:.4f}")
    labels = labels.where(defect != "missing_count", "")
    _note(defects, "smpd", posts, "missing_count", record, "label")
    _note(defects, "smpd", posts, "zero_days", record, "Postdate")
    _note(defects, "smpd", posts.iloc[len(world.posts) :], "duplicate_id", record, "Pid")
    img_paths = "train/" + uid + "/" + pid + ".jpg"
    ua = world.users
    user_additional = (
        "Pathalias totalViews totalTags totalGeotagged totalFaves totalInGroup photoCount followerCount followingCount\n"
        + "".join(
            f"{r.username} {r.total_views} {r.total_tags} {r.total_geotagged} {r.total_faves} {r.total_in_group} "
            f"{r.photo_count} {r.followers} {r.following}\n"
            for r in ua.itertuples()
        )
    )
    dump = lambda obj: json.dumps(obj, ensure_ascii=False)  # noqa: E731
    files: dict[str, str | bytes] = {
        f"{root}/train_category.json": dump(category),
        f"{root}/train_text.json": dump(text),
        f"{root}/train_temporalspatial_information.json": dump(temporal),
        f"{root}/train_user_data.json": dump(user_json),
        f"{root}/train_additional_information.json": dump(additional),
        "train_label.txt": "\n".join(labels) + "\n",
        "train_img_filepath.txt": "\n".join(img_paths) + "\n",
        "user_additional.txt": user_additional,
    }
    first_copy = posts.iloc[: len(world.posts)]
    files.update(_image_files(first_copy, images, img_paths[: len(world.posts)], "smpd", defects))
    return _finish(files), defects


def _float_text(values: pd.Series) -> pd.Series:
    """PixelRec counts as pandas writes a float column: '123.0'."""
    return values.astype(float).map(lambda x: "" if np.isnan(x) else f"{x:.1f}")


def write_pixelrec(world: World, images: dict[int, bytes]) -> tuple[Files, list[dict]]:
    """PixelRec layout: item_info CSV (float-as-text counts, NaN), interactions CSV, covers."""
    posts, defects = _with_duplicates(world.posts), []
    item, defect = posts["pixelrec_item_id"], posts["defect"]
    record = "item_info.csv#item_id=" + item.astype(str)
    counts = {
        "view_number": "views",
        "comment_number": "comments",
        "thumbup_number": "likes",
        "share_number": "shares",
        "coin_number": "coins",
        "favorite_number": "favorites",
        "barrage_number": "barrage",
    }
    table = pd.DataFrame({"item_id": item})
    for col, src in counts.items():
        table[col] = _float_text(posts[src])
    table.loc[defect == "missing_count", "view_number"] = ""
    table.loc[defect == "negative_count", "view_number"] = "-" + table.loc[defect == "negative_count", "view_number"]
    _note(defects, "pixelrec", posts, "missing_count", record, "view_number")
    _note(defects, "pixelrec", posts, "negative_count", record, "view_number")
    table["title"] = _text_with_defect(posts["title"], defect)
    _note(defects, "pixelrec", posts, "non_utf8", record, "title")
    table["tag"] = posts["tags"].map(",".join)
    table["description"] = posts["description"]
    _note(defects, "pixelrec", posts.iloc[len(world.posts) :], "duplicate_id", record, "item_id")

    # Viewer interactions (PixelRec's users are viewers, not authors), after posting.
    rng = np.random.default_rng([world.config.seed, 2_000_003])
    base = world.posts
    n_inter = np.minimum(base["views"].to_numpy(), world.config.interactions_per_item)
    idx = np.repeat(np.arange(len(base)), n_inter)
    stamp = unix_seconds(base["posted_at"]).to_numpy()[idx] + rng.integers(60, 30 * 86_400, len(idx))
    viewers = rng.integers(0, world.config.n_users, len(idx))
    interactions = _csv(
        ["item_id", "user_id", "timestamp"], zip(base["pixelrec_item_id"].to_numpy()[idx], viewers, stamp, strict=True)
    )

    files: dict[str, str | bytes] = {
        "item_info.csv": _csv(list(table.columns), table.itertuples(index=False)),
        "interactions.csv": interactions,
    }
    paths = "cover/" + base["pixelrec_item_id"].astype(str) + ".jpg"
    files.update(_image_files(base, images, paths, "pixelrec", defects))
    return _finish(files), defects


CROWDTANGLE_COLUMNS = [
    "Page Name",
    "User Name",
    "Facebook Id",
    "Page Category",
    "Followers at Posting",
    "Post Created",
    "Type",
    "Total Interactions",
    "Likes",
    "Comments",
    "Shares",
    "Love",
    "Wow",
    "Haha",
    "Sad",
    "Angry",
    "Care",
    "URL",
    "Message",
    "Link",
]


def write_crowdtangle(world: World, images: dict[int, bytes]) -> tuple[Files, list[dict]]:
    """Facebook CrowdTangle export: posts CSV with reactions, comments CSV, linked images."""
    posts = world.posts.merge(world.users[["user_id", "username", "fb_page_id", "followers"]], on="user_id")
    posts, defects = _with_duplicates(posts), []
    defect = posts["defect"]
    url = (
        "https://www.facebook.com/"
        + posts["fb_page_id"].astype(str)
        + "/posts/"
        + posts["fb_post_id"].str.split("_").str[1]
    )
    record = "posts.csv#URL=" + url
    likes = posts["likes"].astype(str)
    likes = likes.where(defect != "missing_count", "").where(defect != "negative_count", "-" + likes)
    _note(defects, "crowdtangle", posts, "missing_count", record, "Likes")
    _note(defects, "crowdtangle", posts, "negative_count", record, "Likes")
    _note(defects, "crowdtangle", posts, "non_utf8", record, "Message")
    _note(defects, "crowdtangle", posts.iloc[len(world.posts) :], "duplicate_id", record, "URL")
    reactions = ["reaction_love", "reaction_wow", "reaction_haha", "reaction_sorry", "reaction_angry"]
    total = posts[["likes", "comments", "shares", *reactions]].sum(axis=1)
    links = "images/" + posts["fb_post_id"] + ".jpg"
    table = pd.DataFrame(
        {
            "Page Name": posts["username"].str.replace("_", " ").str.title(),
            "User Name": posts["username"],
            "Facebook Id": posts["fb_page_id"],
            "Page Category": "PERSONAL_BLOG",
            "Followers at Posting": posts["followers"],
            "Post Created": posts["posted_at"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "Type": "Photo",
            "Total Interactions": total,
            "Likes": likes,
            "Comments": posts["comments"],
            "Shares": posts["shares"],
            "Love": posts["reaction_love"],
            "Wow": posts["reaction_wow"],
            "Haha": posts["reaction_haha"],
            "Sad": posts["reaction_sorry"],
            "Angry": posts["reaction_angry"],
            "Care": 0,  # the Care button arrived in 2020
            "URL": url,
            "Message": _text_with_defect(posts["caption"], defect),
            "Link": links,
        }
    )
    c = world.comments.merge(world.posts[["post_id", "fb_post_id"]], on="post_id")
    comments = _csv(
        ["id", "post_id", "parent_id", "post_created", "text"],
        zip(
            c["comment_id"],
            c["fb_post_id"],
            c["parent_id"].map(lambda p: p or ""),
            c["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            c["text"],
            strict=True,
        ),
    )
    files: dict[str, str | bytes] = {
        "posts.csv": _csv(CROWDTANGLE_COLUMNS, table.itertuples(index=False)),
        "comments.csv": comments,
    }
    n = len(world.posts)
    files.update(_image_files(posts.iloc[:n], images, links.iloc[:n], "crowdtangle", defects))
    return _finish(files), defects


def _xz_json(obj: dict) -> bytes:
    return lzma.compress(json.dumps(obj, ensure_ascii=False, indent=4).encode("utf-8"), format=lzma.FORMAT_XZ)


def write_instaloader(world: World, images: dict[int, bytes]) -> tuple[Files, list[dict]]:
    """instaloader's layout: a folder per profile with <date>_UTC.jpg/.txt/.json.xz per post."""
    posts = world.posts.merge(world.users[["user_id", "username"]], on="user_id")
    defects: list[dict] = []
    stem = posts["username"] + "/" + posts["posted_at"].dt.strftime("%Y-%m-%d_%H-%M-%S_UTC")
    files: dict[str, str | bytes] = {}
    size = world.config.image_size
    for r, s in zip(posts.itertuples(), stem, strict=True):
        node = {
            "__typename": "GraphImage",
            "id": str(10**15 + r.post_id),
            "shortcode": r.ig_shortcode,
            "taken_at_timestamp": int(r.posted_at.timestamp()),
            "edge_media_to_caption": {"edges": [{"node": {"text": r.caption}}]},
            "edge_media_to_comment": {"count": int(r.comments)},
            "edge_media_preview_like": {"count": int(r.likes)},
            "owner": {"id": str(2 * 10**9 + r.user_id), "username": r.username},
            "dimensions": {"height": size, "width": size},
            "is_video": False,
        }
        if r.defect == "missing_count":
            del node["edge_media_preview_like"]
        elif r.defect == "negative_count":
            node["edge_media_preview_like"]["count"] = -int(r.likes)
        files[s + ".json.xz"] = _xz_json({"node": node, "instaloader": {"version": "4.14", "node_type": "Post"}})
        caption = r.caption + (" " + NON_UTF8_MARKER if r.defect == "non_utf8" else "")
        files[s + ".txt"] = caption
    for kind, field in (
        ("missing_count", "edge_media_preview_like"),
        ("negative_count", "edge_media_preview_like"),
        ("non_utf8", "caption"),
    ):
        _note(defects, "instaloader", posts, kind, stem + (".txt" if kind == "non_utf8" else ".json.xz"), field)
    for u in world.users.itertuples():
        profile = {
            "id": str(2 * 10**9 + u.user_id),
            "username": u.username,
            "full_name": u.username.replace("_", " ").title(),
            "edge_followed_by": {"count": int(u.followers)},
            "edge_follow": {"count": int(u.following)},
            "is_private": not u.is_public,
            "biography": "",
        }
        files[f"{u.username}/{u.username}_{profile['id']}.json.xz"] = _xz_json(
            {"node": profile, "instaloader": {"version": "4.14", "node_type": "Profile"}}
        )
    files.update(_image_files(posts, images, stem + ".jpg", "instaloader", defects))
    return _finish(files), defects


def write_emotion_subset(world: World) -> tuple[Files, pd.DataFrame]:
    """A labelled image set for transfer evaluation, UnbiasedEmotion's layout:
    ``<emotion>/<concept>_<n>.jpg``, emotions balanced and objects drawn at random.

    As in UnbiasedEmotion, the emotion is not given away by one easy cue: the background
    colours are blended towards random ones (``palette_mix``), as in the posts."""
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 3_000_017])
    n = cfg.emotion_subset_size
    emotion = np.asarray(EMOTIONS)[np.arange(n) % len(EMOTIONS)]
    concept = rng.integers(0, cfg.n_concepts, n)
    tax = world.taxonomy.set_index("concept_id")
    files, rows = {}, []
    for i in range(n):
        t = tax.loc[int(concept[i])]
        style = concept_style(int(t.category_id), int(t.subcategory_id), int(concept[i]), cfg.n_subcategories)
        image_rng = np.random.default_rng([cfg.seed, 3_000_017, i])
        image = render_image(style, emotion[i], cfg.image_size, image_rng, cfg.palette_mix, cfg.texture_stroke)
        path = f"{emotion[i]}/{t.concept}_{i:05d}.jpg"
        files[path] = encode_jpeg(image, cfg.jpeg_quality)
        rows.append({"path": path, "emotion": emotion[i], "concept_id": int(concept[i])})
    return files, pd.DataFrame(rows)


WRITERS = {
    "smpd": write_smpd,
    "pixelrec": write_pixelrec,
    "crowdtangle": write_crowdtangle,
    "instaloader": write_instaloader,
}
