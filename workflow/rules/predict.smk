# Predict: sliding-window ensemble, mean of softmax over the seeds, written in
# the photo's own geometry.


rule predict:
    input:
        adabn=get_shard_adabn,
        normalized="results/normalized/shards/{shard}.json",
        ingest="results/ingest/shards/{shard}.json",
        ensemble=f"results/models/{MODEL}/ensemble.json",
        weights=model_files("weights"),
        cards=model_files("card"),
    output:
        "results/predictions/shards/{shard}.json",
    log:
        "logs/predict/{shard}.log",
    benchmark:
        "benchmarks/predict/{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
        cpus_per_task=1,
    params:
        predict=canonical(config["predict"]),
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
        ensemble=f"results/models/{MODEL}/ensemble.json",
        weights=model_files("weights"),
        cards=model_files("card"),
    output:
        weights="results/models/{model}/adabn/{camera}.safetensors",
        record="results/models/{model}/adabn/{camera}.json",
    log:
        "logs/predict/adabn_{model}_{camera}.log",
    benchmark:
        "benchmarks/predict/adabn_{model}_{camera}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
        cpus_per_task=2,
    params:
        predict=canonical(config["predict"]),
        photos=camera_photos,
    script:
        "../scripts/adabn.py"
