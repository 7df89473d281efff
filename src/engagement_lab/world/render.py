"""Procedural post images whose concept and emotion are both learnable from pixels.

The object drawn encodes the content hierarchy (category → shape, subcategory → colour,
concept → count and inner pattern); the emotion is a scene-wide cue (background
palette and texture) that is independent of the object, as in UnbiasedEmotion.
"""

from __future__ import annotations

import colorsys
import io
import math

import numpy as np
from PIL import Image, ImageDraw

from engagement_lab.world.config import WorldConfig

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "ring", "hexagon", "ellipse", "bars", "arrow")
PATTERNS = ("plain", "dot", "stripe")
# Background colour (top, bottom) and texture per emotion.
EMOTION_SCENES = {
    "joy": (((255, 214, 64), (255, 150, 40)), "sparkles"),
    "love": (((255, 170, 200), (220, 60, 110)), "soft"),
    "surprise": (((120, 230, 255), (255, 255, 255)), "burst"),
    "anger": (((150, 10, 10), (40, 0, 0)), "jagged"),
    "sadness": (((90, 110, 150), (40, 50, 80)), "rain"),
    "fear": (((25, 25, 35), (70, 60, 90)), "static"),
}


def concept_style(category_id: int, subcategory_id: int, concept_id: int, n_subcategories: int) -> dict:
    """The visual prototype of a concept: shape from the category, hue from the subcategory."""
    hue = (subcategory_id * 0.618034) % 1.0  # golden-ratio spacing keeps hues apart
    rgb = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 0.95))
    variant = concept_id // n_subcategories  # concepts are assigned round-robin to subcategories
    return {
        "shape": SHAPES[category_id % len(SHAPES)],
        "color": rgb,
        "count": 1 + variant % 3,
        "pattern": PATTERNS[(variant // 3) % len(PATTERNS)],
    }


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    sides = {"triangle": 3, "square": 4, "diamond": 4, "hexagon": 6}.get(shape)
    if shape == "star":
        pts = [(r if i % 2 == 0 else r * 0.45, angle + i * math.pi / 5) for i in range(10)]
    elif shape == "arrow":
        base = [(0, -1), (0.8, 0), (0.3, 0), (0.3, 1), (-0.3, 1), (-0.3, 0), (-0.8, 0)]
        pts = [(r * math.hypot(x, y), angle + math.atan2(y, x)) for x, y in base]
    else:
        offset = math.pi / 4 if shape == "diamond" else 0.0
        pts = [(r, angle + offset + 2 * math.pi * i / sides) for i in range(sides)]
    return [(cx + d * math.cos(a), cy + d * math.sin(a)) for d, a in pts]


def _background(
    draw: ImageDraw.ImageDraw,
    emotion: str,
    size: int,
    rng: np.random.Generator,
    palette_mix: float = 0.0,
    stroke: int = 1,
) -> None:
    (top, bottom), texture = EMOTION_SCENES[emotion]
    if palette_mix > 0:
        # Blend the emotion's palette towards random colours: the texture stays the reliable cue.
        weight = rng.uniform(0, palette_mix)
        top, bottom = (tuple((1 - weight) * np.asarray(c) + weight * rng.integers(0, 256, 3)) for c in (top, bottom))
    shade = rng.uniform(0.85, 1.1)
    for y in range(size):
        t = y / max(size - 1, 1)
        color = tuple(min(255, int(shade * ((1 - t) * a + t * b))) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (size, y)], fill=color)
    k, w = size // 8, stroke  # w: the texture marks' stroke width in pixels
    if texture == "sparkles":
        for x, y in rng.integers(0, size, (3 * k, 2)):
            draw.rectangle([x, y, x + w, y + w], fill=(255, 255, 255))
    elif texture == "soft":
        for x, y in rng.integers(0, size, (k, 2)):
            draw.ellipse([x - 3 * w, y - 3 * w, x + 3 * w, y + 3 * w], outline=(255, 235, 245), width=w)
    elif texture == "burst":
        c = size / 2
        for a in np.linspace(0, 2 * math.pi, 16, endpoint=False) + rng.uniform(0, 0.4):
            draw.line([(c, c), (c + size * math.cos(a), c + size * math.sin(a))], fill=(255, 255, 160), width=w)
    elif texture == "jagged":
        for _ in range(k // 2 + 1):
            x0 = int(rng.integers(-size // 2, size))
            pts = [(x0 + i * size / 6, (i % 2) * size / 6 + rng.uniform(0, size)) for i in range(7)]
            draw.line(pts, fill=(255, 80, 0), width=w)
    elif texture == "rain":
        for x, y in rng.integers(0, size, (3 * k, 2)):
            draw.line([(x, y), (x, y + size / 10)], fill=(170, 190, 220), width=w)
    else:  # static
        for x, y in rng.integers(0, size, (6 * k, 2)):
            g = int(rng.integers(80, 200))
            draw.rectangle([x, y, x + w - 1, y + w - 1], fill=(g, g, g))


def _object(draw: ImageDraw.ImageDraw, style: dict, cx: float, cy: float, r: float, angle: float) -> None:
    color, shape = style["color"], style["shape"]
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        draw.ellipse(box, fill=color, outline=(0, 0, 0))
    elif shape == "ring":
        draw.ellipse(box, outline=color, width=max(2, int(r / 3)))
    elif shape == "ellipse":
        draw.ellipse([cx - r, cy - r * 0.55, cx + r, cy + r * 0.55], fill=color, outline=(0, 0, 0))
    elif shape == "cross":
        w = r / 3
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=color)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=color)
    elif shape == "bars":
        for i in range(3):
            x = cx - r + i * r * 0.8
            draw.rectangle([x, cy - r, x + r * 0.4, cy + r], fill=color)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, angle), fill=color, outline=(0, 0, 0))
    if style["pattern"] == "dot":
        d = r / 4
        draw.ellipse([cx - d, cy - d, cx + d, cy + d], fill=(255, 255, 255))
    elif style["pattern"] == "stripe":
        draw.line([(cx - r * 0.7, cy), (cx + r * 0.7, cy)], fill=(255, 255, 255), width=max(1, int(r / 5)))


def render_image(
    style: dict, emotion: str, size: int, rng: np.random.Generator, palette_mix: float = 0.0, stroke: int = 1
) -> Image.Image:
    """One post image: emotion scene, then ``count`` jittered copies of the concept's object.

    ``palette_mix`` > 0 blends the emotion's background colours with random ones by up to that weight;
    ``stroke`` is the width of the emotion's texture marks."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    _background(draw, emotion, size, rng, palette_mix, stroke)
    count = style["count"]
    r = size * (0.28 if count == 1 else 0.2 if count == 2 else 0.16) * rng.uniform(0.85, 1.15)
    slots = {1: [(0.5, 0.5)], 2: [(0.3, 0.5), (0.7, 0.5)], 3: [(0.27, 0.35), (0.73, 0.35), (0.5, 0.72)]}[count]
    for sx, sy in slots:
        jitter = rng.uniform(-0.06, 0.06, 2) * size
        _object(draw, style, sx * size + jitter[0], sy * size + jitter[1], r, rng.uniform(0, 2 * math.pi))
    return image


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes; PIL's encoder is deterministic for the same pixels and settings."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def render_post_images(posts, config: WorldConfig) -> dict[int, bytes]:
    """JPEG bytes per post id. Each image has its own stream (seed, post id): order-free."""
    out: dict[int, bytes] = {}
    columns = ["post_id", "category_id", "subcategory_id", "concept_id", "emotion"]
    for post_id, cat, sub, con, emotion in posts[columns].itertuples(index=False):
        rng = np.random.default_rng([config.seed, 1_000_003, int(post_id)])
        style = concept_style(int(cat), int(sub), int(con), config.n_subcategories)
        image = render_image(style, emotion, config.image_size, rng, config.palette_mix, config.texture_stroke)
        out[int(post_id)] = encode_jpeg(image, config.jpeg_quality)
    return out
