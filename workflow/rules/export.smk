# Export: the ensemble's labels at points as CoralNet's CSV (every sheet row with `points`, and
# export.points), and cover per photo and per plot and date as Darwin Core measurement rows.


rule export:
    input:
        unpack(export_inputs),
        by_image=paths.COVER_BY_IMAGE,
        by_plot_date=paths.COVER_BY_PLOT_DATE,
        ensemble=selected("ensemble"),
    output:
        points=paths.EXPORT_POINTS,
        dwc=paths.EXPORT_DWC,
    log:
        paths.EXPORT_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        photos=EXPORT_PHOTOS,
        classes=class_map(),
        labels=canonical(config["points"]["labels"]),
        taxa=canonical(config["export"]["taxa"]),
    script:
        "../scripts/export.py"
