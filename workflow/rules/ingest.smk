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
    script:
        "../scripts/check_inputs.py"


rule ingest_photo:
    input:
        photo=get_photo,
        # every photo and mask is checked before any work; ancient(): a re-run
        # check (new rows in the sheet) does not re-run finished photos
        checked=ancient("results/checks/inputs.tsv"),
    output:
        photo="results/ingest/{image_id}/photo.tif",
        record="results/ingest/{image_id}/photo.json",
    log:
        "logs/ingest/{image_id}.photo.log",
    conda:
        "../../envs/io.yaml"
    params:
        meta=photo_meta,
        target_mm_per_px=config["normalize"]["target_mm_per_px"],
    script:
        "../scripts/ingest_photo.py"


rule ingest_mask:
    input:
        mask=get_mask,
        checked=ancient("results/checks/inputs.tsv"),
        record="results/ingest/{image_id}/photo.json",
    output:
        mask="results/ingest/{image_id}/mask.tif",
        record="results/ingest/{image_id}/mask.json",
    log:
        "logs/ingest/{image_id}.mask.log",
    conda:
        "../../envs/io.yaml"
    params:
        class_ids=CLASS_IDS,
        ignore_index=config["ignore_index"],
    script:
        "../scripts/ingest_mask.py"
