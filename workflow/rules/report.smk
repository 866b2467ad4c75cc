# Report: figures and tables made for `snakemake --report report.html`, in its
# categories Cover (per plot), Maps (per photo), Drift (per camera) and
# Provenance (the models' cards); Quality comes from evaluate.smk.


rule plot_cover_by_plot:
    input:
        paths.COVER_BY_PLOT_DATE,
    output:
        report(
            paths.PLOT_COVER_BY_PLOT,
            caption="../report/cover_by_plot.rst",
            category="Cover",
            subcategory="Per plot",
            labels={"site": "{site}", "figure": "cover per plot"},
        ),
    log:
        paths.PLOT_COVER_BY_PLOT_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        site=lambda wildcards: SITE_OF_KEY[wildcards.site],
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_cover_by_plot.py"


rule report_maps:
    input:
        manifests("predict", report_map_ids()),
    output:
        report(
            directory(paths.REPORT_MAPS),
            patterns=["{image_id}.png"],
            caption="../report/maps.rst",
            category="Maps",
            labels={"photo": "{image_id}"},
        ),
    log:
        paths.REPORT_MAPS_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        previews={i: path_of(i, "preview") for i in report_map_ids()},
    script:
        "../scripts/report_maps.py"


rule camera_report:
    input:
        expand(
            paths.CAMERA_STATS,
            camera=sorted(set(CAMERA_KEY.values())),
        ),
    output:
        table=report(
            paths.CAMERAS,
            caption="../report/cameras_table.rst",
            category="Drift",
            labels={"what": "per camera statistics"},
        ),
        plot=report(
            paths.PLOT_CAMERAS,
            caption="../report/cameras.rst",
            category="Drift",
            labels={"what": "camera drift and correction"},
        ),
    log:
        paths.CAMERAS_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        method=config["normalize"]["method"],
        photos=SHEET["camera"].value_counts().to_dict(),
    script:
        "../scripts/camera_report.py"


rule provenance:
    input:
        ensemble=selected("ensemble"),
        cards=selected("card"),
    output:
        report(
            paths.PROVENANCE,
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"what": "models of the ensemble"},
        ),
    log:
        paths.PROVENANCE_LOG,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/provenance.py"
