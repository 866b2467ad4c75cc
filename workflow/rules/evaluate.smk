# Evaluate: per-class metrics for every seed and the ensemble, on the
# validation and test photos (never used to choose anything).


rule evaluate:
    input:
        shards=manifests("cover", evaluated_ids()),
        splits=paths.SPLITS,
        by_image=paths.COVER_BY_IMAGE,
        by_image_seed=paths.COVER_BY_IMAGE_SEED,
    output:
        metrics=report(
            paths.METRICS,
            caption="../report/metrics.rst",
            category="Quality",
            subcategory="All metrics",
        ),
        plot=report(
            paths.PLOT_CONFUSION,
            caption="../report/confusion.rst",
            category="Quality",
            subcategory="Test photos",
        ),
        plot_val=report(
            paths.PLOT_CONFUSION_VAL,
            caption="../report/confusion_val.rst",
            category="Quality",
            subcategory="Validation photos",
        ),
        per_class=report(
            paths.PER_CLASS,
            caption="../report/per_class.rst",
            category="Quality",
            subcategory="Per class",
        ),
    log:
        paths.EVALUATE_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
        confusion=[path_of(i, "confusion") for i in evaluated_ids()],
    script:
        "../scripts/evaluate.py"


rule seed_sensitivity:
    input:
        metrics=paths.METRICS,
        by_image_seed=paths.COVER_BY_IMAGE_SEED,
        splits=paths.SPLITS,
    output:
        table=report(
            paths.SEEDS,
            caption="../report/seeds_table.rst",
            category="Quality",
            subcategory="Ensemble and each seed",
        ),
        spread=paths.SEED_COVER_SPREAD,
        plot=report(
            paths.PLOT_SEEDS,
            caption="../report/seeds.rst",
            category="Quality",
            subcategory="Ensemble and each seed",
        ),
    log:
        paths.SEEDS_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
        level=config["cover"]["interval_level"],
    script:
        "../scripts/seed_sensitivity.py"


# Photos labelled by points: the ensemble's accuracy at the points, and the cover the point count says
# with its binomial interval (from the export of the ensemble's labels at every point).
rule evaluate_points:
    input:
        points=paths.EXPORT_POINTS,
        splits=paths.SPLITS,
    output:
        report(
            paths.POINTS_EVAL,
            caption="../report/points.rst",
            category="Quality",
            subcategory="Point labels",
        ),
    log:
        paths.POINTS_EVAL_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        photos=[p for p in EXPORT_PHOTOS if p["labelled"]],
        classes=class_map(),
        level=config["cover"]["interval_level"],
    script:
        "../scripts/evaluate_points.py"
