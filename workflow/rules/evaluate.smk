# Evaluate: per-class metrics for every seed and the ensemble, on the
# validation and test photos (never used to choose anything).


rule evaluate:
    input:
        shards=manifests("coverage", evaluated_ids()),
        splits="results/splits.tsv",
        by_image="results/coverage/by_image.tsv",
        by_image_seed="results/coverage/by_image_seed.tsv",
    output:
        metrics=report(
            "results/eval/metrics.tsv",
            caption="../report/metrics.rst",
            category="Quality",
            subcategory="All metrics",
        ),
        plot=report(
            "results/plots/confusion.png",
            caption="../report/confusion.rst",
            category="Quality",
            subcategory="Test photos",
        ),
        plot_val=report(
            "results/plots/confusion_val.png",
            caption="../report/confusion_val.rst",
            category="Quality",
            subcategory="Validation photos",
        ),
        per_class=report(
            "results/eval/per_class.tsv",
            caption="../report/per_class.rst",
            category="Quality",
            subcategory="Per class",
        ),
    log:
        "logs/eval/evaluate.log",
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
        confusion=[path_of(i, "confusion") for i in evaluated_ids()],
    script:
        "../scripts/evaluate.py"


rule seed_sensitivity:
    input:
        metrics="results/eval/metrics.tsv",
        by_image_seed="results/coverage/by_image_seed.tsv",
        splits="results/splits.tsv",
    output:
        table=report(
            "results/eval/seeds.tsv",
            caption="../report/seeds_table.rst",
            category="Quality",
            subcategory="Ensemble and each seed",
        ),
        spread="results/eval/seed_cover_spread.tsv",
        plot=report(
            "results/plots/seeds.png",
            caption="../report/seeds.rst",
            category="Quality",
            subcategory="Ensemble and each seed",
        ),
    log:
        "logs/eval/seed_sensitivity.log",
    conda:
        "../../envs/io.yaml"
    params:
        classes=canonical(config["classes"]),
        level=config["cover"]["interval_level"],
    script:
        "../scripts/seed_sensitivity.py"
