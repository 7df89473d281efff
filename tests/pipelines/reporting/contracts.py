"""Results contracts as wide as the real ones: the PPCL and engagement contracts of a demo run (`make run`, world
seed 42; the numbers of docs/results/), built with the same ``results_contract`` the pipelines call."""

from __future__ import annotations

from engagement_lab.core.results import results_contract

# model: (test_mae, test_mae_std, test_mse, test_mse_std, test_src, test_src_std), as docs/results/ppcl.md has them.
_PPCL_TEST = {
    "full": (0.834, 0.028, 1.107, 0.055, 0.786, 0.015),
    "no_cl": (0.845, 0.022, 1.120, 0.059, 0.778, 0.009),
    "crd": (0.842, 0.035, 1.103, 0.078, 0.780, 0.023),
    "uisd": (0.871, 0.010, 1.169, 0.049, 0.772, 0.011),
    "uid": (0.866, 0.005, 1.137, 0.030, 0.775, 0.007),
    "crd_uisd": (0.843, 0.037, 1.114, 0.090, 0.786, 0.020),
    "crd_uid": (0.853, 0.023, 1.118, 0.072, 0.787, 0.017),
    "uisd_uid": (0.883, 0.028, 1.194, 0.085, 0.758, 0.019),
    "random_sampling": (0.816, 0.018, 1.033, 0.038, 0.797, 0.010),
    "no_aug": (0.856, 0.051, 1.101, 0.106, 0.787, 0.013),
    "rnc": (0.889, 0.032, 1.221, 0.099, 0.756, 0.025),
    "full_100k": (0.933, 0.008, 1.621, 0.345, 0.727, 0.010),
    "no_cl_100k": (1.037, 0.028, 1.833, 0.167, 0.649, 0.021),
    "full_200k": (0.892, 0.027, 1.229, 0.050, 0.759, 0.013),
    "no_cl_200k": (0.874, 0.009, 1.250, 0.021, 0.751, 0.007),
    "catboost": (0.823, 0.013, 1.028, 0.030, 0.792, 0.011),
    "tfidf_ridge": (1.219, 0.0, 2.293, 0.0, 0.423, 0.0),
}
PPCL_ORACLE = {"test_r2": 0.758, "test_mae": 0.658, "test_src": 0.864, "test_mse": 0.661}
PPCL_SPLIT_SIZES = {
    "train": 2381,
    "val": 298,
    "test": 297,
    "train_full_100k": 794,
    "train_no_cl_100k": 794,
    "train_full_200k": 1587,
    "train_no_cl_200k": 1587,
    "input_posts": 3000,
    "input_quarantined": 24,
    "input_without_profile": 0,
    "input_without_image": 24,
    "input_without_followers": 0,
    "input_modelled": 2976,
}


def ppcl_contract() -> dict:
    """PPCL's contract: 17 models on test and validation with stds over 3 seeds, the train-mean baseline, the
    oracle and 13 counts. ``full`` (PPCL) loses to ``catboost`` on test MAE, within its std."""
    models = {}
    for name, (mae, mae_std, mse, mse_std, src, src_std) in _PPCL_TEST.items():
        small = name.endswith(("_100k", "_200k"))
        models[name] = {
            "test_mae": mae,
            "test_mae_std": mae_std,
            "test_mse": mse,
            "test_mse_std": mse_std,
            "test_src": src,
            "test_src_std": src_std,
            "val_mae": round(mae * 0.99, 3),
            "val_mae_std": 0.02,
            "val_mse": round(mse * 0.98, 3),
            "val_mse_std": 0.03,
            "val_src": round(src * 0.99, 3),
            "val_src_std": 0.01,
            "seeds": 3.0,
            "train_posts": float(PPCL_SPLIT_SIZES["train_full_100k" if "100k" in name else "train_full_200k"])
            if small
            else 2381.0,
            "test_src_fraction_of_oracle": src / PPCL_ORACLE["test_src"],
        }
    models["mean_prediction"] = {"test_r2": -0.014, "test_mae": 1.353, "test_src": 0.0, "test_mse": 2.775}
    return results_contract(
        "ppcl",
        dataset="smpd: data/01_raw/sample_world/smpd",
        split_sizes=PPCL_SPLIT_SIZES,
        seed=[0, 1, 2],
        models=models,
        oracle=PPCL_ORACLE,
        notes=["Target: log2(views/days)+1 (SMPD's label). Split: chronological 8:1:1 by posted_at (UTC)."],
    )


def engagement_contract() -> dict:
    """The engagement contract: CatBoost with the leaking counts (past the oracle), fusion classifiers, the
    regressor, the baselines, 18 counts."""
    classifier = {"val_accuracy": 0.242, "val_macro_f1": 0.240, "val_weighted_f1": 0.240, "best_epoch": 7.0}
    return results_contract(
        "engagement",
        dataset="pixelrec: data/01_raw/sample_world/pixelrec",
        split_sizes={
            "train": 2083,
            "test": 595,
            "val": 298,
            **{f"test_class_{k}": 119 for k in range(5)},
            "posts": 3000,
            "dropped_missing_views": 24,
            "dropped_missing_likes": 0,
            "dropped_missing_comments": 0,
            "dropped_no_target": 24,
            "without_image": 24,
            "with_image": 2952,
            "modelled": 2976,
        },
        seed=42,
        models={
            "catboost_paper": {
                "val_accuracy": 0.909,
                "test_accuracy": 0.918,
                "test_macro_f1": 0.918,
                "best_iteration": 300.0,
                "n_features": 157.0,
                "cv_accuracy_mean": 0.900,
                "cv_accuracy_std": 0.017,
            },
            "catboost_pre_publication": {
                "val_accuracy": 0.235,
                "test_accuracy": 0.230,
                "test_macro_f1": 0.229,
                "best_iteration": 80.0,
                "n_features": 138.0,
                "cv_accuracy_mean": 0.212,
                "cv_accuracy_std": 0.016,
            },
            "fusion_concat": {**classifier, "test_accuracy": 0.188, "test_macro_f1": 0.180},
            "fusion_gated": {**classifier, "test_accuracy": 0.192, "test_macro_f1": 0.184},
            "multimodal_regression": {"val_r2": 0.104, "best_epoch": 3.0, "test_r2": 0.130, "test_mae": 1.025},
            "majority_class": {"test_accuracy": 0.198, "test_macro_f1": 0.066},
            "tfidf_logistic": {"test_accuracy": 0.205, "test_macro_f1": 0.202},
            "mean_prediction": {"test_r2": -0.002, "test_mae": 1.111},
            "tfidf_ridge": {"test_r2": 0.139, "test_mae": 1.020},
        },
        oracle={"test_accuracy": 0.224, "test_macro_f1": 0.182, "test_r2": 0.663, "test_mae": 0.632},
        notes=[
            "catboost_paper adds the raw counts, their logs and ratios (as in the paper): these leak the label; "
            "catboost_pre_publication has no counts.",
            "Regression target: log(1 + Eq. 1 popularity score).",
        ],
    )
