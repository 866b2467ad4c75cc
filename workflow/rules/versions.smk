# Versions: a candidate model version (new labels or settings) is judged against the current version on
# the current validation photos, class by class (crustwatch/versions.py: the acceptance rule), and predicts
# only if it passes; every decision and version goes into the governance log.


checkpoint decide_version:
    input:
        unpack(decision_inputs),
    output:
        paths.DECISION,
    log:
        paths.DECISION_LOG,
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=grow(4000),
        runtime=grow(30),
        cpus_per_task=1,
    params:
        rule=canonical(config["versions"]["accept"]),
        val_ids=ids_in("val"),
        val_photos=[path_of(i, "norm_photo") for i in ids_in("val")],
        val_records=[path_of(i, "norm_record") for i in ids_in("val")],
        val_masks=[path_of(i, "mask") for i in ids_in("val")],
        classes=class_map(),
    script:
        "../scripts/decide_version.py"


rule governance:
    # the decision behind the predicting version (a new decision rewrites the tables), never an input
    # chosen by it: `snakemake <this table>` judges a candidate without predicting anything
    input:
        decision_target(),
    output:
        log=report(
            paths.GOVERNANCE,
            caption="../report/governance.rst",
            category="Provenance",
            labels={"what": "model versions: decisions"},
        ),
        versions=report(
            paths.VERSIONS_TABLE,
            caption="../report/versions.rst",
            category="Provenance",
            labels={"what": "model versions"},
        ),
    log:
        paths.GOVERNANCE_LOG,
    localrule: True
    conda:
        "../../envs/io.yaml"
    params:
        models_dir=models_dir_of,
        status=version_status(),
    script:
        "../scripts/governance.py"
