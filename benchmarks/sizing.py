"""Size & fit benchmark: macro AUC / macro-F1 on RentTheRunway valid.parquet next to the published numbers
(Misra et al. 2018), and coverage of the demo size charts over ANSUR II bodies (share of people for whom some
size fits within tolerance at a regular fit preference)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import SHARED_DATA, ansur_people, cli
from fitmirror.config import get_settings

PUBLISHED = {"1-LV-LR": 0.610, "K-LV-LR": 0.676, "K-LF-LR": 0.672, "K-LV-ML": 0.681, "K-LF-ML": 0.719}


def ansur_bodies(sample: int | None = None, seed: int = 0) -> pd.DataFrame:
    """ANSUR II people as body dicts in cm/kg with a gender column."""
    sexes = (("male", "men"), ("female", "women"))
    frames = [ansur_people(sex).drop(columns="subject").assign(gender=g) for sex, g in sexes]
    out = pd.concat(frames, ignore_index=True)
    if sample and sample < len(out):
        out = out.sample(sample, random_state=seed).reset_index(drop=True)
    return out


def chart_coverage(bodies: pd.DataFrame) -> list[dict]:
    """Per chart: share of the matching people (by gender) for whom some size fits everywhere that matters."""
    from avatar.sizing.charts import DEMO_CHARTS
    from avatar.sizing.recommend import recommend_size
    from fitmirror.demo_catalog import demo_products

    charts = [(f"demo {c}", c, ch, 0.0, "body", "women" if c == "dress" else "unisex") for c, ch in DEMO_CHARTS.items()]
    for p in demo_products():
        charts.append(
            (
                p.id,
                p.category,
                {s: m.present() for s, m in p.size_chart.items()},
                p.stretch,
                p.measurement_kind,
                p.gender,
            )
        )
    rows = []
    cols = ["height_cm", "weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm"]
    for name, cat, chart, stretch, kind, gender in charts:
        people = bodies if gender == "unisex" else bodies[bodies["gender"] == gender]
        fits, sizes = 0, {}
        for rec in people[cols].to_dict("records"):
            a = recommend_size(rec, chart, cat, stretch, "regular", "en", None, chart_kind=kind)
            ok = next(o.fits for o in a.alternatives if o.size == a.size)
            fits += ok
            sizes[a.size] = sizes.get(a.size, 0) + 1
        rows.append({"chart": name, "category": cat, "people": len(people), "coverage": fits / max(len(people), 1)})
    return rows


def run(quick: bool) -> dict:
    from avatar.sizing.cli import fast_config
    from avatar.sizing.features import read_table
    from avatar.sizing.model import FitModel, TrainConfig, evaluate, train_model
    from avatar.sizing.service import get_model

    s = get_settings()
    valid = read_table(SHARED_DATA / "rtr-fit" / "valid.parquet", need_label=True)
    results: dict = {}
    t0 = time.monotonic()
    if quick:
        model = get_model()
        label = f"demo model ({s.size_model_path})"
        if model is None:
            train = read_table(SHARED_DATA / "rtr-fit" / "train.parquet", need_label=True)
            model, rep = train_model(train, None, fast_config())
            results["train_s"] = rep["train_s"]
            label = "fast config, trained now"
    else:
        d = Path(s.cache_dir) / "size-model-full"
        try:
            model = FitModel.load(d)
            label = f"full config ({d})"
        except Exception:
            train = read_table(SHARED_DATA / "rtr-fit" / "train.parquet", need_label=True)
            model, rep = train_model(train, None, TrainConfig())
            model.save(d)
            results["train_s"] = rep["train_s"]
            label = "full config, trained now"
    t1 = time.monotonic()
    m = evaluate(model, valid)
    results["eval_s"] = round(time.monotonic() - t1, 1)
    results["eval_rows_per_s"] = round(m["n"] / max(results["eval_s"], 1e-3))
    results["valid"] = m
    results["model"] = label
    results["fit_s"] = round(t1 - t0, 1)
    bodies = ansur_bodies(sample=600 if quick else None)
    t2 = time.monotonic()
    cov = chart_coverage(bodies)
    results["coverage"] = cov
    results["coverage_people"] = len(bodies)
    results["coverage_s"] = round(time.monotonic() - t2, 1)

    md = ["| method | macro AUC | macro-F1 |", "|---|---|---|"]
    md += [f"| {k} (Misra et al. 2018) | {v:.3f} | - |" for k, v in PUBLISHED.items()]
    md.append(f"| **fitmirror GBM** ({label}) | **{m['macro_auc']:.3f}** | {m['macro_f1']:.3f} |")
    md += [
        "",
        f"Per class AUC: small {m['auc_small']:.3f}, fit {m['auc_fit']:.3f}, large {m['auc_large']:.3f}; "
        f"n={m['n']}; scoring {results['eval_rows_per_s']} rows/s.",
        "",
        f"Chart coverage over {len(bodies)} ANSUR II people (share with a size that fits at regular preference):",
        "",
        "| chart | category | people | coverage |",
        "|---|---|---|---|",
    ]
    md += [f"| {r['chart']} | {r['category']} | {r['people']} | {r['coverage']:.1%} |" for r in cov]
    mean_cov = float(np.mean([r["coverage"] for r in cov]))
    results["coverage_mean"] = round(mean_cov, 4)
    md.append(f"| **mean** | | | **{mean_cov:.1%}** |")
    return {
        "title": "Size and fit recommendation (RentTheRunway, ANSUR II)",
        "results": results,
        "markdown": "\n".join(md),
    }


if __name__ == "__main__":
    raise SystemExit(cli(run))
