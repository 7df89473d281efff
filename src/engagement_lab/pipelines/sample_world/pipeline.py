"""The ``sample_world`` pipeline: one seeded world written in every raw format."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    collect_defects,
    export_crowdtangle,
    export_emotion_subset,
    export_instaloader,
    export_new_posts,
    export_pixelrec,
    export_smpd,
    render_images,
    simulate_world,
    summarise_world,
)

WORLD = [
    "params:sample_world",
    "ground_truth_taxonomy",
    "ground_truth_users",
    "ground_truth_posts",
    "world_comments",
    "world_post_images",
]
EXPORTS = {
    "smpd": export_smpd,
    "pixelrec": export_pixelrec,
    "crowdtangle": export_crowdtangle,
    "instaloader": export_instaloader,
}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                simulate_world,
                "params:sample_world",
                ["ground_truth_taxonomy", "ground_truth_users", "ground_truth_posts", "world_comments"],
                name="simulate_world",
            ),
            Node(
                render_images, ["ground_truth_posts", "params:sample_world"], "world_post_images", name="render_images"
            ),
            *[
                Node(func, WORLD, [f"sample_world_{fmt}", f"defects_{fmt}"], name=f"export_{fmt}")
                for fmt, func in EXPORTS.items()
            ],
            Node(export_new_posts, WORLD[:4], "sample_world_new_posts", name="export_new_posts"),
            Node(
                export_emotion_subset,
                ["ground_truth_taxonomy", "params:sample_world"],
                ["sample_world_emotion_subset", "ground_truth_emotion_subset"],
                name="export_emotion_subset",
            ),
            Node(
                collect_defects, [f"defects_{fmt}" for fmt in EXPORTS], "ground_truth_defects", name="collect_defects"
            ),
            Node(
                summarise_world,
                [
                    "ground_truth_users",
                    "ground_truth_posts",
                    "world_comments",
                    "ground_truth_defects",
                    "params:sample_world",
                ],
                "sample_world_summary",
                name="summarise_world",
            ),
        ],
        namespace="sample_world",
        prefix_datasets_with_namespace=False,
    )
