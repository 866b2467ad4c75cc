# Normalize: scale to the target mm/px and correct colour per camera, with
# parameters pooled from the camera's other calibration photos (DESIGN §4).


rule camera_stats:
    input:
        get_camera_records,
    output:
        "results/normalized/cameras/{camera}.json",
    log:
        "logs/normalize/camera_{camera}.log",
    conda:
        "../../envs/io.yaml"
    params:
        pool=config["normalize"]["camera_pool"],
        calibration_date=calibration_date,
    script:
        "../scripts/camera_stats.py"


rule normalize_photo:
    input:
        photo="results/ingest/{image_id}/photo.tif",
        record="results/ingest/{image_id}/photo.json",
        camera=get_camera_stats,
    output:
        photo="results/normalized/{image_id}/photo.tif",
        record="results/normalized/{image_id}/photo.json",
    log:
        "logs/normalize/{image_id}.log",
    conda:
        "../../envs/io.yaml"
    params:
        method=config["normalize"]["method"],
    script:
        "../scripts/normalize_photo.py"
