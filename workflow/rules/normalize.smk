# Normalize: scale to the target mm/px and correct colour per camera, with
# parameters pooled from the camera's other calibration photos (DESIGN §4).


rule camera_stats:
    input:
        get_calibration_shards,
    output:
        paths.CAMERA_STATS,
    log:
        paths.CAMERA_STATS_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        pool=config["normalize"]["camera_pool"],
        calibration_date=calibration_date,
        records=calibration_records,
    script:
        "../scripts/camera_stats.py"


rule normalize:
    input:
        ingest=paths.INGEST_MANIFEST,
        cameras=get_shard_camera_stats,
    output:
        paths.NORMALIZE_MANIFEST,
    log:
        paths.NORMALIZE_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        method=config["normalize"]["method"],
        photos=normalize_items,
    script:
        "../scripts/normalize.py"
