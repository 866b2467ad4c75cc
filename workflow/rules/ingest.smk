# Ingest: every photo and mask read with rasterio, checked, written as one
# canonical GeoTIFF each, with its source's sha256.


rule check_inputs:
    input:
        photos=SHEET["image_path"].tolist(),
        masks=[m for m in SHEET["mask_path"] if m],
    output:
        "results/checks/inputs.tsv",
    log:
        "logs/checks/inputs.log",
    conda:
        "../../envs/io.yaml"
    params:
        rows=sheet_rows(),
        class_ids=CLASS_IDS,
        ignore_index=config["ignore_index"],
        max_megapixels=config["ingest"]["max_megapixels"],
    script:
        "../scripts/check_inputs.py"


# One job per shard (the photos of one site on one date); outputs per photo
# (results/ingest/{image_id}/photo.tif, mask.tif and their records).
rule ingest:
    input:
        photos=shard_photos,
        masks=shard_masks,
        # every photo and mask is checked before any work; ancient(): a re-run
        # check (new rows in the sheet) does not re-run finished shards
        checked=ancient("results/checks/inputs.tsv"),
    output:
        "results/ingest/shards/{shard}.json",
    log:
        "logs/ingest/{shard}.log",
    conda:
        "../../envs/io.yaml"
    params:
        photos=ingest_items,
        target_mm_per_px=config["normalize"]["target_mm_per_px"],
        class_ids=CLASS_IDS,
        ignore_index=config["ignore_index"],
    script:
        "../scripts/ingest.py"
