# Predict: sliding-window ensemble, mean of softmax over the seeds, written in
# the photo's own geometry.


rule predict:
    input:
        adabn=get_shard_adabn,
        normalized=paths.NORMALIZE_MANIFEST,
        ingest=paths.INGEST_MANIFEST,
        # the predicting version's ensemble (versions.smk: pinned, current, or chosen in this run)
        ensemble=selected("ensemble"),
        weights=selected("weights"),
        cards=selected("card"),
    output:
        paths.PREDICT_MANIFEST,
    log:
        paths.PREDICT_LOG,
    benchmark:
        paths.PREDICT_BENCHMARK
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
        cpus_per_task=1,
    params:
        predict=predict_settings(config["predict"]),
        # the class map's colour table (a colour change rewrites the maps, never retrains)
        colors=sorted(
            ({"id": c["id"], "color": c.get("color")} for c in config["classes"]),
            key=lambda c: c["id"],
        ),
        photos=predict_items,
    script:
        "../scripts/predict.py"


# AdaBN (predict.adabn): per camera, each seed's batch-norm statistics
# re-estimated on that camera's (unlabelled) photos.
rule adabn:
    input:
        shards=get_camera_shards,
        # the predicting version's ensemble (versions.smk: pinned, current, or chosen in this run)
        ensemble=selected("ensemble"),
        weights=selected("weights"),
        cards=selected("card"),
    output:
        weights=paths.ADABN,
        record=paths.ADABN_RECORD,
    log:
        paths.ADABN_LOG,
    benchmark:
        paths.ADABN_BENCHMARK
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
        cpus_per_task=2,
    params:
        predict=predict_settings(config["predict"]),
        photos=camera_photos,
    script:
        "../scripts/adabn.py"
