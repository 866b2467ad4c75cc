# Evaluate: per-class metrics for every seed and the ensemble, on the
# validation and test photos (never used to choose anything).


rule evaluate:
    input:
        confusion=expand(
            "results/eval/confusion/{image_id}.tsv", image_id=evaluated_ids()
        ),
        covers=expand(
            "results/coverage/images/{image_id}.tsv", image_id=evaluated_ids()
        ),
        splits="results/splits.tsv",
    output:
        metrics=report(
            "results/eval/metrics.tsv",
            caption="../report/metrics.rst",
            category="Quality",
        ),
        summary=report(
            "results/eval/summary.tsv",
            caption="../report/summary.rst",
            category="Quality",
        ),
        plot=report(
            "results/plots/confusion.png",
            caption="../report/confusion.rst",
            category="Quality",
        ),
    log:
        "logs/eval/evaluate.log",
    conda:
        "../../envs/io.yaml"
    params:
        classes=config["classes"],
    script:
        "../scripts/evaluate.py"
