"""File-level steps: each reads a stage's input files, calls the array-level modules and writes its outputs.

A stage reads in one line of files: ``workflow/rules/X.smk`` -> ``workflow/scripts/X.py`` (a thin adapter)
-> ``crustwatch/steps/X.py`` -> the algorithm modules (``crustwatch/X.py``).
"""
