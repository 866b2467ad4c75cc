# Train: one model per seed. The seed is a wildcard, so every model is
# traceable and rebuildable on its own:
#   snakemake --cores 2 results/models/<model>/seed3/model.safetensors


rule train:
    input:
        # pretrain.method on: this seed's self-supervised encoder and its card (rule pretrain)
        unpack(pretrained_inputs),
        # the shards holding the train and val photos; their files are in params
        shards=training_shards(),
    output:
        weights=paths.WEIGHTS,
        card=paths.MODEL_CARD,
        # this run's facts (duration, host, processor, code commit): beside the card, never cited
        run=paths.TRAINING_RUN,
    log:
        paths.TRAIN_LOG,
    benchmark:
        paths.TRAIN_BENCHMARK
    conda:
        "../../envs/torch.yaml"
    # torch uses train.cpu_threads whatever --cores says: a rebuild is bit-identical
    threads: train_threads()
    # a GPU when the cluster has one; memory and time grow with each retry (--retries)
    resources:
        gpu=1,
        mem_mb=grow(train_mem_mb()),
        runtime=grow(120),
        cpus_per_task=train_threads(),
    # only what shapes the weights: changing prediction, cover or plot settings
    # (class colours included), or train.log_every/checkpoint_every/workers, never retrains
    params:
        train_ids=ids_in("train"),
        val_ids=ids_in("val"),
        classes=class_map(),
        ignore_index=config["ignore_index"],
        model=canonical(config["model"]),
        train=train_params(),
        split_seed=split_seed(),
        photos=training_paths("norm_photo", ["train"]),
        # read only with train.augment.drift (drift simulated before normalization)
        raw_photos=training_paths("ingest_photo", ["train"]),
        masks=training_paths("mask", ["train"]),
        val_photos=training_paths("norm_photo", ["val"]),
        val_masks=training_paths("mask", ["val"]),
        photo_records=training_paths("ingest_record", ["train", "val"]),
        mask_records=training_paths("mask_record", ["train", "val"]),
        norm_records=training_paths("norm_record", ["train", "val"]),
    script:
        "../scripts/train.py"


rule ensemble_card:
    input:
        cards=model_files("card"),
        weights=model_files("weights"),
    output:
        paths.ENSEMBLE_CARD,
    log:
        paths.ENSEMBLE_LOG,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/ensemble_card.py"
