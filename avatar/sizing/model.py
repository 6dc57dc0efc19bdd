"""The learned fit model: gradient-boosted trees over body, size and out-of-fold feedback statistics.

Training builds each training row's user/item statistics from the *other* folds (K-fold), so the trees learn
how much to trust history of the same kind they will see at prediction time, when the statistics come from the
whole training table. A model directory holds the booster, the statistics tables and a meta.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

from avatar.sizing.features import (
    LABELS,
    FitStats,
    base_features,
    compute_stats,
    label_codes,
    stat_features,
)
from fitmirror.errors import InputError, ModelUnavailableError

MODEL_VERSION = 1
BODY_COLS = ["height_in", "weight_lbs", "bust_num", "cup", "bust_volume", "age", "bmi", "body_type"]


@dataclass
class TrainConfig:
    # Defaults measured on valid.parquet: 150 rounds at 0.1 beat 400 at 0.05 with 63 leaves (0.778 vs 0.776
    # macro AUC; the latter overfits after ~200 rounds) in a third of the time.
    folds: int = 5
    num_boost_round: int = 150
    learning_rate: float = 0.1
    num_leaves: int = 31
    max_bin: int = 63
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 5.0
    use_occasion: bool = True
    threads: int = 2
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def params(self) -> dict:
        return {
            "objective": "multiclass",
            "num_class": 3,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.threads,
            "seed": self.seed,
            "verbose": -1,
            **self.extra,
        }


def _body_size_model(df: pd.DataFrame, base: pd.DataFrame) -> lgb.Booster:
    """Regress the rented size on body measurements: the size a body like this usually rents (no labels)."""
    ds = lgb.Dataset(base[BODY_COLS], label=df["size"].astype(float).to_numpy(), free_raw_data=False)
    params = {
        "objective": "regression",
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 200,
        "num_threads": 1,  # tiny model: OpenMP threads only spin-wait on a busy machine
        "verbose": -1,
    }
    return lgb.train(params, ds, num_boost_round=80)


class FitModel:
    """P(small), P(fit), P(large) for (person, item, size) rows in RentTheRunway format."""

    def __init__(
        self,
        booster: lgb.Booster,
        body_model: lgb.Booster,
        stats: FitStats,
        categories: list[str],
        occasions: list[str],
        meta: dict,
    ) -> None:
        self.booster, self.body_model, self.stats = booster, body_model, stats
        self.categories, self.occasions, self.meta = categories, occasions, meta

    # --- features ----------------------------------------------------------------------------------------
    @staticmethod
    def _cat_codes(values: pd.Series, vocab: list[str]) -> np.ndarray:
        index = {v: float(i) for i, v in enumerate(vocab)}
        return np.array([index.get(str(v), np.nan) if pd.notna(v) else np.nan for v in values], dtype=float)

    @staticmethod
    def build_features(
        df: pd.DataFrame,
        stats: FitStats,
        body_model: lgb.Booster,
        categories: list[str],
        occasions: list[str],
        use_occasion: bool,
    ) -> pd.DataFrame:
        base = base_features(df)
        X = pd.concat([base, stat_features(df, stats)], axis=1)
        X["body_size"] = body_model.predict(base[BODY_COLS], num_threads=1)
        X["size_vs_body"] = X["size"] - X["body_size"]
        X["category"] = FitModel._cat_codes(df["category"], categories)
        if use_occasion:
            X["occasion"] = FitModel._cat_codes(df["rented_for"], occasions)
        return X

    def features(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.build_features(
            df, self.stats, self.body_model, self.categories, self.occasions, self.meta["use_occasion"]
        )

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Rows x 3 probabilities in LABELS order (small, fit, large)."""
        if len(df) == 0:
            return np.zeros((0, 3))
        return self.booster.predict(self.features(df)[self.meta["features"]], num_threads=2)

    # --- persistence ---------------------------------------------------------------------------------------
    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(out / "booster.txt"))
        self.body_model.save_model(str(out / "body_size.txt"))
        self.stats.save(out)
        meta = {
            **self.meta,
            "categories": self.categories,
            "occasions": self.occasions,
            "p_small": self.stats.p_small,
            "p_large": self.stats.p_large,
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, d: Path | str) -> FitModel:
        d = Path(d)
        if not (d / "meta.json").exists() or not (d / "booster.txt").exists():
            raise ModelUnavailableError(
                f"no trained size model in {d}",
                hint="run `fitmirror setup --only size-model` or `fitmirror size train --data TRAIN.parquet --out DIR`",
            )
        meta = json.loads((d / "meta.json").read_text())
        if meta.get("version") != MODEL_VERSION:
            raise ModelUnavailableError(f"size model in {d} has version {meta.get('version')}, need {MODEL_VERSION}")
        stats = FitStats.load(d, meta["p_small"], meta["p_large"])
        return cls(
            lgb.Booster(model_file=str(d / "booster.txt")),
            lgb.Booster(model_file=str(d / "body_size.txt")),
            stats,
            meta["categories"],
            meta["occasions"],
            meta,
        )


def _vocab(s: pd.Series, min_count: int = 5) -> list[str]:
    vc = s.astype("string").value_counts()
    return sorted(vc[vc >= min_count].index.tolist())


def oof_features(train: pd.DataFrame, cfg: TrainConfig, categories: list[str], occasions: list[str]) -> pd.DataFrame:
    """Features of every training row computed from the other K-1 folds only."""
    rng = np.random.default_rng(cfg.seed)
    fold = rng.integers(0, cfg.folds, len(train))
    parts = []
    for k in range(cfg.folds):
        rest, here = train[fold != k], train[fold == k]
        stats = compute_stats(rest)
        body = _body_size_model(rest, base_features(rest))
        parts.append(FitModel.build_features(here, stats, body, categories, occasions, cfg.use_occasion))
    return pd.concat(parts).loc[train.index]


def train_model(
    train: pd.DataFrame, valid: pd.DataFrame | None = None, cfg: TrainConfig | None = None, log=print
) -> tuple[FitModel, dict]:
    """Fit on `train` (with out-of-fold statistics); report metrics on `valid` when given."""
    cfg = cfg or TrainConfig()
    if len(train) < 100:
        raise InputError(f"training table has {len(train)} rows; need at least 100")
    t0 = time.monotonic()
    categories, occasions = _vocab(train["category"]), _vocab(train["rented_for"])
    X = oof_features(train, cfg, categories, occasions)
    feats = list(X.columns)
    y = label_codes(train)
    log(f"[size] out-of-fold features: {X.shape} in {time.monotonic() - t0:.0f} s")
    stats = compute_stats(train)
    body = _body_size_model(train, base_features(train))
    cat_feats = [c for c in ("category", "occasion") if c in feats]
    dtrain = lgb.Dataset(X[feats], label=y, categorical_feature=cat_feats, free_raw_data=False)
    item_category = train.groupby("item_id")["category"].agg(lambda c: c.astype(str).mode().iat[0])
    meta = {
        "version": MODEL_VERSION,
        "features": feats,
        "use_occasion": cfg.use_occasion,
        "n_train": len(train),
        "item_category": {str(k): v for k, v in item_category.items()},
    }
    valid_sets, callbacks = [], []
    rounds = cfg.num_boost_round
    if valid is not None:
        Xv = FitModel.build_features(valid, stats, body, categories, occasions, cfg.use_occasion)[feats]
        dvalid = lgb.Dataset(Xv, label=label_codes(valid), categorical_feature=cat_feats, reference=dtrain)
        valid_sets = [dvalid]
        callbacks = [lgb.log_evaluation(100)]
    booster = lgb.train(cfg.params(), dtrain, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
    model = FitModel(booster, body, stats, categories, occasions, meta)
    report = {"train_s": round(time.monotonic() - t0, 1), "n_train": len(train)}
    if valid is not None:
        report["valid"] = evaluate(model, valid)
    model.meta["report"] = report
    return model, report


def metrics(y: np.ndarray, proba: np.ndarray) -> dict:
    """Misra et al. 2018's metric: one-vs-rest AUC per class, averaged; plus macro-F1 of the argmax."""
    out: dict = {}
    aucs = []
    for i, name in enumerate(LABELS):
        pos = y == i
        auc = float(roc_auc_score(pos, proba[:, i])) if 0 < pos.sum() < len(y) else float("nan")
        out[f"auc_{name}"] = round(auc, 4)
        aucs.append(auc)
    out["macro_auc"] = round(float(np.nanmean(aucs)), 4)
    out["macro_f1"] = round(float(f1_score(y, _decide(proba), average="macro", labels=[0, 1, 2])), 4)
    out["n"] = len(y)
    return out


def _decide(proba: np.ndarray) -> np.ndarray:
    """Class decision for F1: rescale by the class prior so the rare small/large classes get predicted."""
    prior = np.array([0.134, 0.738, 0.128])
    return np.argmax(proba / prior, axis=1)


def evaluate(model: FitModel, df: pd.DataFrame) -> dict:
    return metrics(label_codes(df), model.predict_proba(df))


def rtr_person_row(body: dict[str, float]) -> dict[str, float]:
    """Convert metric measurements to the RTR columns (inches, pounds, bra band/cup) the model reads."""
    row: dict[str, float] = {}
    if body.get("height_cm"):
        row["height_in"] = body["height_cm"] / 2.54
    if body.get("weight_kg"):
        row["weight_lbs"] = body["weight_kg"] / 0.45359237
    if body.get("bust_band_in"):
        row["bust_size_num"] = float(body["bust_band_in"])
    elif body.get("underbust_cm"):
        row["bust_size_num"] = 2.0 * round(body["underbust_cm"] / 2.54 / 2.0 + 0.5)
    if body.get("underbust_cm") and body.get("chest_cm"):
        # US cup: one letter per inch of bust minus underbust
        diff_in = (body["chest_cm"] - body["underbust_cm"]) / 2.54
        letters = "aa a b c d e f g h".split()
        row["bust_size_letter"] = letters[int(max(0, min(len(letters) - 1, round(diff_in))))]
    if body.get("age"):
        row["age"] = float(body["age"])
    return row


def item_feedback_stats(model: FitModel, item_id: int) -> tuple[float, float, int] | None:
    """(share small, share large, n reviews) of an item in the training data, or None if unseen."""
    if item_id not in model.stats.item.index:
        return None
    r = model.stats.item.loc[item_id]
    return float(r["n_small"] / r["n"]), float(r["n_large"] / r["n"]), int(r["n"])


def score_item_sizes(
    model: FitModel, body: dict[str, float], item_id: int, user_id: int | None = None, body_type: str | None = None
) -> pd.DataFrame:
    """P(small/fit/large) for every size this item was rented in, for one person. Index: size."""
    isz = model.stats.item_size
    if item_id not in model.stats.item.index:
        raise InputError(f"item {item_id} has no fit history in the model", hint="pass a size chart instead")
    sizes = sorted({int(s) for (i, s) in isz.index if i == item_id})
    person = rtr_person_row(body)
    rows = []
    for s in sizes:
        rows.append(
            {
                "user_id": -1 if user_id is None else user_id,
                "item_id": item_id,
                "size": s,
                "category": model.meta.get("item_category", {}).get(str(item_id), "dress"),
                "body_type": body_type,
                "rented_for": None,
                **person,
            }
        )
    df = pd.DataFrame(rows)
    for c in ("height_in", "weight_lbs", "bust_size_num", "bust_size_letter", "age"):
        if c not in df.columns:
            df[c] = np.nan
    X = model.features(df)
    p = model.booster.predict(X[model.meta["features"]], num_threads=1)
    out = pd.DataFrame(p, columns=list(LABELS), index=pd.Index(sizes, name="size"))
    # the size bodies like this one usually rent, shifted by how this item's renters size vs the average
    out["typical_size"] = X["body_size"].to_numpy() + (X["item_mean_size"] - X["cat_true_size"]).fillna(0.0).to_numpy()
    out["n_rentals"] = [float(isz.loc[(item_id, s), "n"]) for s in sizes]
    return out
