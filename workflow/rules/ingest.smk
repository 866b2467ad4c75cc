# Ingest: every photo and mask read with rasterio, checked, written as one
# canonical GeoTIFF each, with its source's sha256.
#
# Every photo and mask is checked before any job runs (common.smk, onstart).
# Content decides what reruns: the source files are ancient() (their times never
# trigger a rerun) and their sha256 are params (a changed content reruns exactly
# the shards that read it, and everything downstream, in the same run).


# One job per shard (the photos of one site on one date); outputs per photo
# (results/ingest/{image_id}/photo.tif, mask.tif and their records).
rule ingest:
    input:
        photos=lambda w: [ancient(p) for p in shard_photos(w)],
        masks=lambda w: [ancient(p) for p in shard_masks(w)],
    output:
        paths.INGEST_MANIFEST,
    log:
        paths.INGEST_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        photos=ingest_items,
        target_mm_per_px=config["normalize"]["target_mm_per_px"],
        class_ids=CLASS_IDS,
        ignore_index=config["ignore_index"],
    script:
        "../scripts/ingest.py"
