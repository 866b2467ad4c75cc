# make demo   set up .venv (if missing) and run the bundled demo end to end
# make test   set up .venv (if missing) and run the test suite (make test-fast: the unit tier)
# make bench-drift   compare normalization methods on generated camera drift
# make bench-drift-ceiling   what each camera's own photos allow (the bound on any correction)
# make bench-real GIT_DIR=...   the workflow against a pixel random forest on real Utah plot photos
# make bench-change   are the change tables' changes real? the demo plus a camera-only date
# make bench-points   what training from 100 or 50 points per photo costs against full masks (the demo)
# make bench-label-next   do the suggestions of what to label next beat random labelling? (a simulated loop)
# make bench-dag     time the planning of 10,000- and 100,000-photo projects
# make bench         prediction and training speed against a naive loop, and
#                    the peak memory of predicting a 24 MP photo
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: demo test test-fast venv lint fmt clean-demo bench bench-speed bench-memory bench-drift bench-drift-ceiling bench-dag bench-real bench-change bench-points bench-label-next

$(BIN)/crustwatch: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BIN)/crustwatch

venv: $(BIN)/crustwatch

demo: venv
	$(BIN)/crustwatch demo --out data/demo --sheet config/images.tsv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES)

test: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest

# the unit tier: every test but the whole-workflow runs (about 1.5 minutes)
test-fast: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m "not workflow"

bench: bench-speed bench-memory

# bench/results/speed/predict_speed.tsv and train_speed.tsv (about 6 minutes on 2 CPU cores);
# on a GPU machine: .venv/bin/python bench/speed/speed.py --device cuda
bench-speed: venv
	$(BIN)/python bench/speed/speed.py

# peak memory of predicting one 6000 x 4000 photo with the workflow (about 8 minutes):
# bench/results/speed/predict_memory.tsv
bench-memory: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/speed/predict_memory.py

# drift benchmark of the normalization methods, 3-seed ensembles (about 80 min on 2 CPU cores):
# bench/results/drift/drift.tsv, drift_summary.tsv, drift.png
bench-drift: venv
	$(BIN)/python bench/drift/drift.py --seeds 0,1,2

# models trained on each camera's own photos, and the cost of each camera property
# (about 31 min on 2 CPU cores): bench/results/drift/drift_ceiling.tsv
bench-drift-ceiling: venv
	$(BIN)/python bench/drift/drift.py --ceiling --seeds 0,1,2

# real photos: the source study's Utah plots (GIT_DIR: a bare git dir of stefanherdy/JESS),
# leave one plot out, the default ensemble against a pixel random forest, same-camera and drifted
# (bench/real/README.md; scikit-learn and scikit-image are installed for the baseline):
# bench/results/real/summary.tsv, folds.tsv, per_class.tsv, photos.tsv, real.png
bench-real: venv
	test -n "$(GIT_DIR)" || { echo "give GIT_DIR=<bare git dir of stefanherdy/JESS>" >&2; exit 2; }
	$(BIN)/pip install --quiet -r bench/real/requirements.txt
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/real/real.py --git-dir $(GIT_DIR) $(ARGS)

# change between dates against the known truth (about 15 min on 2 CPU cores):
# bench/results/change/summary.tsv, cells.tsv, plots.tsv, change.png
bench-change: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/change/change.py

# point labels against masks on the demo (about 30 min on 2 CPU cores):
# bench/results/points/summary.tsv, points.png
bench-points: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/points/points.py

# a simulated labelling loop on the demo and the drift benchmark, suggested regions against random ones
# (about 80 min on 2 CPU cores):
# bench/results/label_next/summary.tsv, curves.tsv, label_next.png
bench-label-next: venv
	$(BIN)/python bench/label_next/label_next.py $(ARGS)

# how long `snakemake -n` takes on 10,000 and 100,000 generated photos:
# bench/results/scale/dag_scale.tsv
bench-dag: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python bench/scale/dag_scale.py

lint: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .
	$(BIN)/ruff check .

fmt: venv
	$(BIN)/snakefmt .

clean-demo:
	rm -rf results logs benchmarks .snakemake data/demo
