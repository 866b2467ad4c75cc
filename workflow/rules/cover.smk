# Cover: per image (ensemble and each seed), then means per plot and date and
# per site and date, with intervals from the seed spread scaled by the error on
# the labelled validation photos.


rule cover:
    input:
        predictions="results/predictions/shards/{shard}.json",
        ingest="results/ingest/shards/{shard}.json",
    output:
        "results/coverage/shards/{shard}.json",
    log:
        "logs/cover/{shard}.log",
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
        shards=manifests("coverage", SHEET.index),
        splits="results/splits.tsv",
    output:
        by_image=report(
            "results/coverage/by_image.tsv",
            caption="../report/by_image.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_plot_date=report(
            "results/coverage/by_plot_date.tsv",
            caption="../report/by_plot_date.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_site_date=report(
            "results/coverage/by_site_date.tsv",
            caption="../report/by_site_date.rst",
            category="Cover",
            subcategory="Tables",
        ),
        by_image_seed="results/coverage/by_image_seed.tsv",
        calibration="results/coverage/interval_calibration.json",
        adjustment="results/coverage/cover_adjustment.json",
        methods=report(
            "results/coverage/cover_methods.tsv",
            caption="../report/cover_methods.rst",
            category="Quality",
            subcategory="Cover estimate and interval",
        ),
    log:
        "logs/cover/aggregate.log",
    conda:
        "../../envs/io.yaml"
    params:
        level=config["cover"]["interval_level"],
        interval=config["cover"]["interval"],
        floor_pp=config["cover"]["interval_floor_pp"],
        adjust=config["cover"]["adjust"],
        adjust_min_photos=config["cover"]["adjust_min_photos"],
        calibration_min_pairs=config["cover"]["calibration_min_pairs"],
        val_confusion=[path_of(i, "confusion") for i in val_labelled_ids()],
        classes=canonical(config["classes"]),
        covers=[path_of(i, "cover") for i in SHEET.index],
    script:
        "../scripts/aggregate_cover.py"


rule plot_cover:
    input:
        "results/coverage/by_site_date.tsv",
    output:
        report(
            "results/plots/cover_over_time.png",
            caption="../report/cover_over_time.rst",
            category="Cover",
            subcategory="Per site",
        ),
    log:
        "logs/plots/cover_over_time.log",
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_cover.py"
