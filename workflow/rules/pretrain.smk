# Pretrain (optional, pretrain.method: masked): before supervised training, each seed's encoder
# learns from the project's own photos, labelled or not, by painting back hidden blocks. The seed
# is a wildcard, as in train: every pretrained encoder is traceable and rebuildable on its own; it
# belongs to a model version (its photos and settings are part of the version's definition).


rule pretrain:
    input:
        record=ancient(paths.VERSION_RECORD),
        # the shards holding the photos; their files are in params
        shards=pretrain_shards,
    output:
        encoder=paths.PRETRAINED_ENCODER,
        card=paths.PRETRAINED_CARD,
        run=paths.PRETRAIN_RUN,
    log:
        paths.PRETRAIN_LOG,
    benchmark:
        paths.PRETRAIN_BENCHMARK
    conda:
        "../../envs/torch.yaml"
    threads: train_threads()
    resources:
        gpu=1,
        mem_mb=grow(train_mem_mb()),
        runtime=grow(60),
        cpus_per_task=train_threads(),
    # only what shapes the encoder
    params:
        image_ids=version_param("pretrain_ids"),
        photos=version_param("pretrain_photos"),
        model=version_param("model"),
        pretrain=version_param("pretrain"),
        train=version_param("pretrain_train"),
    script:
        "../scripts/pretrain.py"
