"""The ``crustwatch`` command: demo data, sheet checks, audits, versions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import CrustWatchError


def _demo(args) -> int:
    from . import demo

    spec = demo.tiny_spec(args.seed) if args.tiny else demo.DemoSpec(seed=args.seed)
    sheet = Path(args.sheet) if args.sheet else Path(args.out) / "images.tsv"
    if not args.force and demo.is_current(args.out, spec) and sheet.exists():
        print(f"demo data in {args.out} is current (spec {spec.digest()}); --force to write it again")
        return 0
    t = time.time()
    df = demo.generate(args.out, spec, sheet)
    print(f"wrote {len(df)} photos with masks to {args.out}/ and the sheet {sheet} in {time.time() - t:.1f} s")
    return 0


def _check(args) -> int:
    import yaml

    from . import sheet as cw_sheet
    from .steps.ingest import check_inputs

    from snakemake.utils import validate

    from .project import SCHEMA, check_config, check_sheet

    if not Path(args.config).is_file():
        raise CrustWatchError(f"config file '{args.config}' not found (give --config PATH)")
    cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    if args.sheet:
        cfg["images"] = args.sheet
    # the workflow's own checks; the sheet is checked too even when the config has problems, so that
    # one run lists every problem of both
    try:
        check_config(cfg, args.config)
    except CrustWatchError as bad_config:
        sheet_problem = ""
        if isinstance(cfg.get("images"), str):
            try:
                cw_sheet.load_sheet(cfg["images"])
            except CrustWatchError as e:
                sheet_problem = f"\n{e}"
        raise CrustWatchError(f"{bad_config}{sheet_problem}") from None
    validate(cfg, str(SCHEMA))  # the schema's defaults, as the workflow fills them in
    df = cw_sheet.load_sheet(cfg["images"])
    splits = cw_sheet.assign_splits(df, **cfg["split"])
    check_sheet(cfg, df, dict(zip(splits["image_id"], splits["split"])))
    ids = [int(c["id"]) for c in cfg["classes"]]
    points = {"classes": {c["name"]: int(c["id"]) for c in cfg["classes"]}, "labels": cfg["points"]["labels"],
              "radius_px": cfg["points"]["radius_px"]}
    check_inputs(df[["line", "image_id", "image_path", "mask_path", "label_kind"]].to_dict("records"), ids,
                 int(cfg["ignore_index"]), args.out, cfg["ingest"]["max_megapixels"], points=points)
    print(f"{len(df)} rows OK; sizes written to {args.out}")
    return 0


def _audit(args) -> int:
    from .audit import run_audit

    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
    a = run_audit(args.path, rebuild=args.rebuild, seeds=seeds)
    print("\n".join(a.lines))
    return 1 if a.problems else 0


def _defaults(args) -> int:
    import yaml

    from .project import defaults_markdown, with_defaults

    if args.markdown:
        print(defaults_markdown(), end="")
    else:  # every default, as a config would set it (the two required keys left out)
        cfg = with_defaults({})
        print(yaml.safe_dump(cfg, sort_keys=False), end="")
    return 0


def _version(args) -> int:
    from .provenance import versions

    for k, v in versions().items():
        print(f"{k}\t{v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="crustwatch", description="CrustWatch: biocrust cover from plot photos.")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="write the seeded synthetic demo project (photos, masks, sheet)")
    d.add_argument("--out", default="data/demo", help="folder for photos and masks (default data/demo)")
    d.add_argument("--sheet", default=None, help="where to write the image sheet (default OUT/images.tsv)")
    d.add_argument("--seed", type=int, default=2019, help="generator seed (default 2019, the bundled demo)")
    d.add_argument("--tiny", action="store_true", help="a tiny project for tests (2 sites x 2 plots x 2 dates)")
    d.add_argument("--force", action="store_true", help="write even if the folder holds this demo already")
    d.set_defaults(fn=_demo)
    c = sub.add_parser("check", help="check a config's image sheet, photos and masks without running anything")
    c.add_argument("--config", default="config/config.yaml")
    c.add_argument("--sheet", default=None, help="override the config's `images:`")
    c.add_argument("--out", default="/dev/null", help="write the per-photo size table here")
    c.set_defaults(fn=_check)
    a = sub.add_parser(
        "audit",
        help="trace an output (cover table, prediction, model, card) to its models, seeds, photos and code",
        description="Print the chain of models, seeds, cards, photos, settings, code and library versions behind "
        "an output, checking every recorded sha256 against the files on disk. Exit code 1 when anything does not "
        "match.",
    )
    a.add_argument("path", help="an output of a run, e.g. results/coverage/by_site_date.tsv")
    a.add_argument("--rebuild", action="store_true",
                   help="retrain the seeds in a temporary folder and check the weights match bit for bit")
    a.add_argument("--seeds", default=None, help="only these seeds, comma-separated (default: all members)")
    a.set_defaults(fn=_audit)
    f = sub.add_parser("defaults", help="print every config key's default (the schema's), as YAML or --markdown")
    f.add_argument("--markdown", action="store_true", help="the reference table of docs/config.md")
    f.set_defaults(fn=_defaults)
    v = sub.add_parser("version", help="print CrustWatch's and its libraries' versions")
    v.set_defaults(fn=_version)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except CrustWatchError as e:
        print(f"crustwatch: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
