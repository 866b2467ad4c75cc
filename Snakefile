# CrustWatch: per-taxon biocrust cover from repeated plot photos.
#
#   snakemake --cores N                        the bundled demo (after `make demo` made its photos)
#   snakemake --cores N --configfile my.yaml   your own project
#
# The chain: ingest -> normalize -> split -> train (one job per seed) -> predict
# (ensemble) -> cover and evaluation -> change between dates -> what to label next -> plots. See README.md and docs/methods.md.

from snakemake.utils import min_version

min_version("9.0")


# The bundled demo's config, only when no project config is given: with --configfile, a project gets the
# schema's defaults and its own settings, never the demo's pins, whatever folder it runs from.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/versions.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/cover.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/change.smk"
include: "workflow/rules/suggest.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
