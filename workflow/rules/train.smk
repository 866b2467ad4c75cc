# Train: one model per seed, under its model version (crustwatch.versions: named by the training
# data and settings). The seed and the version are wildcards, so every model is traceable and
# rebuildable on its own:
#   snakemake --cores 2 results/models/<model>/<version>/seed3/model.safetensors


rule version_record:
    output:
        paths.VERSION_RECORD,
    log:
        paths.VERSION_RECORD_LOG,
    localrule: True
    conda:
        "../../envs/io.yaml"
    params:
        # what the version trains from (an older version's, from its record on disk)
        definition=lambda wildcards: version_def(wildcards.version),
    script:
        "../scripts/version_record.py"


rule train:
    input:
        # pretrain.method on: this seed's self-supervised encoder and its card (rule pretrain)
        unpack(pretrained_inputs),
        record=ancient(paths.VERSION_RECORD),
        # the shards holding the train and val photos; their files are in params
        shards=training_shards,
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
    # only what shapes the weights, from the version's definition: changing prediction, cover or plot
    # settings (class colours included), or train.log_every/checkpoint_every/workers, never retrains
    params:
        train_ids=version_param("train_ids"),
        val_ids=version_param("val_ids"),
        classes=version_param("classes"),
        ignore_index=version_param("ignore_index"),
        model=version_param("model"),
        train=version_param("train"),
        split_seed=version_param("split_seed"),
        sources=version_param("sources"),
        photos=version_param("photos"),
        # read only with train.augment.drift (drift simulated before normalization)
        raw_photos=version_param("raw_photos"),
        masks=version_param("masks"),
        val_photos=version_param("val_photos"),
        val_masks=version_param("val_masks"),
        photo_records=version_param("photo_records"),
        mask_records=version_param("mask_records"),
        norm_records=version_param("norm_records"),
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
