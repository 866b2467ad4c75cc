# Normalize: scale to the target mm/px and correct colour per camera, with
# parameters pooled from the camera's other calibration photos (DESIGN §4).


rule camera_stats:
    input:
        get_calibration_shards,
    output:
        "results/normalized/cameras/{camera}.json",
    log:
        "logs/normalize/camera_{camera}.log",
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
        ingest="results/ingest/shards/{shard}.json",
        cameras=get_shard_camera_stats,
    output:
        "results/normalized/shards/{shard}.json",
    log:
        "logs/normalize/{shard}.log",
    conda:
        "../../envs/io.yaml"
    params:
        method=config["normalize"]["method"],
        photos=normalize_items,
    script:
        "../scripts/normalize.py"
