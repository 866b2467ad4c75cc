# Predict: sliding-window ensemble, mean of softmax over the seeds, written in
# the photo's own geometry.


rule predict:
    input:
        unpack(get_adabn),
        photo="results/normalized/{image_id}/photo.tif",
        norm_record="results/normalized/{image_id}/photo.json",
        ingest_record="results/ingest/{image_id}/photo.json",
        ensemble=f"results/models/{MODEL}/ensemble.json",
        weights=model_files("weights"),
        cards=model_files("card"),
    output:
        classes="results/predictions/{image_id}.tif",
        seeds="results/predictions/{image_id}_seeds.tif",
    log:
        "logs/predict/{image_id}.log",
    benchmark:
        "benchmarks/predict/{image_id}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=grow(2000),
        runtime=grow(30),
        cpus_per_task=1,
    params:
        predict=config["predict"],
    script:
        "../scripts/predict.py"


# AdaBN (predict.adabn): per camera, each seed's batch-norm statistics
# re-estimated on that camera's (unlabelled) photos.
rule adabn:
    input:
        photos=get_camera_photos,
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
        predict=config["predict"],
    script:
        "../scripts/adabn.py"
