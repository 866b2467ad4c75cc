# Split: train/val/test by plot, never by tile. The assignment is computed from
# the sheet when the workflow is parsed (so training depends on its own photos
# only) and persisted here for users and later steps.


rule split:
    input:
        config["images"],
    output:
        paths.SPLITS,
    log:
        paths.SPLIT_LOG,
    conda:
        "../../envs/io.yaml"
    params:
        splits=SPLITS.to_dict("records"),
    script:
        "../scripts/write_splits.py"
