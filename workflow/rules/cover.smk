# Cover: per image (ensemble and each seed), then means per plot and date and
# per site and date, with intervals from the seed spread scaled by the error on
# the labelled validation photos.


rule cover:
    input:
        predictions=paths.PREDICT_MANIFEST,
        ingest=paths.INGEST_MANIFEST,
    output:
        paths.COVER_MANIFEST,
    log:
        paths.COVER_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        photos=cover_items,
        classes=canonical(config["classes"]),
        ignore_index=config["ignore_index"],
    script:
        "../scripts/cover.py"


rule aggregate_cover:
    input:
        shards=manifests("cover", SHEET.index),
        splits=paths.SPLITS,
    output:
        by_image=report(
            paths.COVER_BY_IMAGE,
            caption="../report/by_image.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_plot_date=report(
            paths.COVER_BY_PLOT_DATE,
            caption="../report/by_plot_date.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_site_date=report(
            paths.COVER_BY_SITE_DATE,
            caption="../report/by_site_date.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_image_seed=paths.COVER_BY_IMAGE_SEED,
        calibration=paths.INTERVAL_CALIBRATION,
        adjustment=paths.COVER_ADJUSTMENT,
        methods=report(
            paths.COVER_METHODS,
            caption="../report/cover_methods.rst",
            category="Quality",
            subcategory="Cover estimate and interval",
        ),
    log:
        paths.AGGREGATE_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        level=config["cover"]["interval_level"],
        interval=config["cover"]["interval"],
        floor_pp=config["cover"]["interval_floor_pp"],
        adjust=config["cover"]["adjust"],
        adjust_min_photos=config["cover"]["adjust_min_photos"],
        calibration_min_pairs=config["cover"]["calibration_min_pairs"],
        estimate=config["cover"]["estimate"],
        # the error rates of the estimate: the maps' confusion, or its soft counterpart
        val_confusion=[
            path_of(
                i,
                (
                    "soft_confusion"
                    if config["cover"]["estimate"] == "soft"
                    else "confusion"
                ),
            )
            for i in val_labelled_ids()
        ],
        classes=canonical(config["classes"]),
        covers=[path_of(i, "cover") for i in SHEET.index],
    script:
        "../scripts/aggregate_cover.py"


rule plot_cover:
    input:
        paths.COVER_BY_SITE_DATE,
    output:
        report(
            paths.PLOT_COVER,
            caption="../report/cover_over_time.rst",
            category="Cover",
            subcategory="Per site",
        ),
    log:
        paths.PLOT_COVER_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_cover.py"
