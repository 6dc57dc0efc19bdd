"""`fitmirror size train|eval|recommend`: train and score the learned fit model, advise one shopper."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fitmirror.errors import InputError, NotFoundError


def _train(args: argparse.Namespace) -> int:
    from avatar.sizing.features import read_table
    from avatar.sizing.model import TrainConfig, train_model

    train = read_table(args.data, need_label=True)
    valid = read_table(args.valid, need_label=True) if args.valid else None
    cfg = TrainConfig(threads=args.threads)
    if args.fast:
        cfg = fast_config(args.threads)
    if args.rounds:
        cfg.num_boost_round = args.rounds
    if args.folds:
        cfg.folds = args.folds
    model, report = train_model(train, valid, cfg, log=lambda m: print(m, file=sys.stderr, flush=True))
    model.save(args.out)
    print(json.dumps({"model": str(args.out), **report}, indent=None if args.json else 2))
    return 0


def fast_config(threads: int = 2):
    """The set-up/CI configuration (currently the default one: it trains in a few CPU minutes)."""
    from avatar.sizing.model import TrainConfig

    return TrainConfig(threads=threads)


def _eval(args: argparse.Namespace) -> int:
    from avatar.sizing.features import read_table
    from avatar.sizing.model import FitModel, evaluate

    model = FitModel.load(args.model)
    df = read_table(args.data, need_label=True)
    res = evaluate(model, df)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>10}: {v}")
    return 0


def load_chart_file(path: Path) -> dict:
    """A chart file is {size: {measure_cm: v}} or {"sizes": {...}, "kind", "category", "stretch"}."""
    if not path.exists():
        raise NotFoundError(f"size chart file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"size chart {path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InputError(f"size chart {path} must be a JSON object")
    return data if "sizes" in data else {"sizes": data}


def _recommend(args: argparse.Namespace) -> int:
    from avatar.sizing.service import advise

    body = {
        k: getattr(args, k)
        for k in ("height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm", "underbust_cm", "age")
        if getattr(args, k) is not None
    }
    req: dict = {
        "measurements": body,
        "category": args.category,
        "preference": args.preference,
        "lang": args.lang,
    }
    if args.stretch is not None:
        req["stretch"] = args.stretch
    if args.chart:
        chart = load_chart_file(args.chart)
        req["size_chart"] = chart["sizes"]
        for k in ("kind", "category", "stretch"):
            if k in chart and (k != "category" or args.category is None) and (k != "stretch" or args.stretch is None):
                req["chart_kind" if k == "kind" else k] = chart[k]
    if args.product_id is not None:
        req["product_id"] = args.product_id
    if args.user_id is not None:
        req["user_id"] = args.user_id
    advice = advise(req, model_dir=args.model)
    if args.json:
        print(json.dumps(advice, ensure_ascii=False))
    else:
        print(f"{advice['size']}  (confidence {advice['confidence']:.0%})")
        print(advice["reason"])
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fitmirror size", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train the fit model on a RentTheRunway-format parquet file")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--valid", type=Path)
    t.add_argument("--out", type=Path, required=True, help="model directory to write")
    t.add_argument("--fast", action="store_true", help="the set-up/CI configuration")
    t.add_argument("--rounds", type=int, default=0, help="boosting rounds (default: config's)")
    t.add_argument("--folds", type=int, default=0, help="out-of-fold statistics folds (default: config's, 5)")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="macro AUC (one-vs-rest small/fit/large) and macro-F1 on a labelled file")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--json", action="store_true")

    r = sub.add_parser("recommend", help="recommend a size for one person and one product")
    for k in ("height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm", "underbust_cm", "age"):
        r.add_argument("--" + k.replace("_", "-"), dest=k, type=float)
    r.add_argument("--chart", type=Path, help="size chart JSON file")
    r.add_argument("--product-id", help="catalogue product id, or a RentTheRunway item id known to the model")
    r.add_argument("--user-id", type=int, help="RentTheRunway user id (uses the shopper's history)")
    r.add_argument("--category", help="tshirt, dress, trousers, ... (default: the chart's or product's)")
    r.add_argument("--stretch", type=float, help="fabric elastic fraction 0..0.5")
    r.add_argument("--preference", choices=["snug", "regular", "loose"], default="regular")
    r.add_argument("--lang", choices=["en", "zh"], default="en")
    r.add_argument("--model", type=Path, help="fit model directory (default: settings.size_model_path)")
    r.add_argument("--json", action="store_true")

    args = ap.parse_args(argv)
    return {"train": _train, "eval": _eval, "recommend": _recommend}[args.cmd](args)
