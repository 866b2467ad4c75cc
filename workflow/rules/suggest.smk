# What to label next: unlabelled photos ranked by the seeds' disagreement, the rarity of what they show and
# the cameras, dates and sites no label covers yet; regions to label in each, and previews.


rule suggest:
    input:
        predictions=manifests("predict", unlabelled_ids()),
        ingest=manifests("ingest", unlabelled_ids() + ids_in("train")),
    output:
        photos=report(
            paths.SUGGEST_PHOTOS,
            caption="../report/suggest_photos.rst",
            category="Label next",
            labels={"what": "photos to label, ranked"},
        ),
        regions=report(
            paths.SUGGEST_REGIONS,
            caption="../report/suggest_regions.rst",
            category="Label next",
            labels={"what": "regions to label"},
        ),
        previews=report(
            directory(paths.SUGGEST_PREVIEWS),
            patterns=["{name}.png"],
            caption="../report/suggest_previews.rst",
            category="Label next",
            labels={"what": "{name}"},
        ),
    log:
        paths.SUGGEST_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        candidates=suggest_candidates(),
        labelled=labelled_meta(),
        train_masks=[path_of(i, "mask_record") for i in ids_in("train")],
        classes=class_map(),
        patch_size=config["train"]["patch_size"],
        region_px=config["suggest"]["region_px"],
        regions_per_photo=config["suggest"]["regions_per_photo"],
        max_previews=config["suggest"]["max_previews"],
    script:
        "../scripts/suggest.py"
