# Report: figures and tables made for `snakemake --report report.html`, in its
# categories Cover (per plot), Maps (per photo), Drift (per camera) and
# Provenance (the models' cards); Quality comes from evaluate.smk.


rule plot_cover_by_plot:
    input:
        "results/coverage/by_plot_date.tsv",
    output:
        report(
            "results/plots/cover_by_plot/{site}.png",
            caption="../report/cover_by_plot.rst",
            category="Cover",
            subcategory="Per plot",
            labels={"site": "{site}", "figure": "cover per plot"},
        ),
    log:
        "logs/plots/cover_by_plot_{site}.log",
    conda:
        "../../envs/io.yaml"
    params:
        site=lambda wildcards: SITE_OF_KEY[wildcards.site],
        classes=canonical(config["classes"]),
    script:
        "../scripts/plot_cover_by_plot.py"


rule report_maps:
    input:
        manifests("predictions", report_map_ids()),
    output:
        report(
            directory("results/report/maps"),
            patterns=["{image_id}.png"],
            caption="../report/maps.rst",
            category="Maps",
            labels={"photo": "{image_id}"},
        ),
    log:
        "logs/report/maps.log",
    conda:
        "../../envs/io.yaml"
    params:
        previews={i: path_of(i, "preview") for i in report_map_ids()},
    script:
        "../scripts/report_maps.py"


rule camera_report:
    input:
        expand(
            "results/normalized/cameras/{camera}.json",
            camera=sorted(set(CAMERA_KEY.values())),
        ),
    output:
        table=report(
            "results/eval/cameras.tsv",
            caption="../report/cameras_table.rst",
            category="Drift",
            labels={"what": "per camera statistics"},
        ),
        plot=report(
            "results/plots/cameras.png",
            caption="../report/cameras.rst",
            category="Drift",
            labels={"what": "camera drift and correction"},
        ),
    log:
        "logs/report/cameras.log",
    conda:
        "../../envs/io.yaml"
    params:
        method=config["normalize"]["method"],
        photos=SHEET["camera"].value_counts().to_dict(),
    script:
        "../scripts/camera_report.py"


rule provenance:
    input:
        ensemble=f"results/models/{MODEL}/ensemble.json",
        cards=model_files("card"),
    output:
        report(
            "results/eval/provenance.tsv",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"what": "models of the ensemble"},
        ),
    log:
        "logs/report/provenance.log",
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/provenance.py"
