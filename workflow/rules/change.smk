# Change between dates: per plot, per site (plots as paired replicates, Benjamini-Hochberg q-values,
# minimum detectable change) and trends in pp per year, from the plot x date cover table.


rule change:
    input:
        by_plot_date=paths.COVER_BY_PLOT_DATE,
        by_image=paths.COVER_BY_IMAGE,
    output:
        by_plot=report(
            paths.CHANGE_BY_PLOT,
            caption="../report/change_by_plot.rst",
            category="Change",
            subcategory="Tables",
        ),
        by_site=report(
            paths.CHANGE_BY_SITE,
            caption="../report/change_by_site.rst",
            category="Change",
            subcategory="Tables",
        ),
        trend=report(
            paths.CHANGE_TREND,
            caption="../report/change_trend.rst",
            category="Change",
            subcategory="Tables",
        ),
    log:
        paths.CHANGE_LOG,
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
        by_site=paths.CHANGE_BY_SITE,
        by_plot=paths.CHANGE_BY_PLOT,
    output:
        report(
            paths.PLOT_CHANGE,
            caption="../report/change.rst",
            category="Change",
            subcategory="Per site",
            labels={"site": "{site}", "figure": "change between dates"},
        ),
    log:
        paths.PLOT_CHANGE_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        site=lambda wildcards: SITE_OF_KEY[wildcards.site],
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_change.py"
