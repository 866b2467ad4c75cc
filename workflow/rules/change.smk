# Change between dates: per plot, per site (plots as paired replicates, Benjamini-Hochberg q-values,
# minimum detectable change) and trends in pp per year, from the plot x date cover table.


rule change:
    input:
        by_plot_date="results/coverage/by_plot_date.tsv",
        by_image="results/coverage/by_image.tsv",
    output:
        by_plot=report(
            "results/change/by_plot.tsv",
            caption="../report/change_by_plot.rst",
            category="Change",
            subcategory="Tables",
        ),
        by_site=report(
            "results/change/by_site.tsv",
            caption="../report/change_by_site.rst",
            category="Change",
            subcategory="Tables",
        ),
        trend=report(
            "results/change/trend.tsv",
            caption="../report/change_trend.rst",
            category="Change",
            subcategory="Tables",
        ),
    log:
        "logs/change/change.log",
    conda:
        "../../envs/io.yaml"
    params:
        level=config["cover"]["interval_level"],
        fdr=config["change"]["fdr"],
        pairs=change_pairs(),
    script:
        "../scripts/change.py"


rule plot_change:
    input:
        by_site="results/change/by_site.tsv",
        by_plot="results/change/by_plot.tsv",
    output:
        report(
            "results/plots/change/{site}.png",
            caption="../report/change.rst",
            category="Change",
            subcategory="Per site",
            labels={"site": "{site}", "figure": "change between dates"},
        ),
    log:
        "logs/change/plot_{site}.log",
    conda:
        "../../envs/io.yaml"
    params:
        site=lambda wildcards: SITE_OF_KEY[wildcards.site],
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_change.py"
