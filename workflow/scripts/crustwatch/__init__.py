"""CrustWatch: per-taxon biocrust cover from repeated plot photos.

The library behind the Snakemake workflow. Every module is importable and
unit-tested without Snakemake; the rule scripts in ``workflow/scripts/`` are
thin adapters from ``snakemake.input/output/params`` to these functions.
"""

__version__ = "0.1.0"
