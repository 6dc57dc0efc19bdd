"""Feature engineering for the learned fit model (person x item x size -> small/fit/large).

Only columns known when the shopper picks a size are used: body (height, weight, bust, body type, age), the
item (id, category), the size and the occasion. Never `rating`, `recommend`, `review_*` (recorded after the
rental). Per-user and per-item feedback statistics come from *other* transactions only: out-of-fold while
training, the whole training table at prediction time, so a row's own label never leaks into its features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fitmirror.errors import InputError, NotFoundError

LABELS: tuple[str, ...] = ("small", "fit", "large")
LABEL_INDEX = {name: i for i, name in enumerate(LABELS)}
# Columns the model may read. `fit` is only needed for training and evaluation.
ID_COLUMNS = ("user_id", "item_id")
REQUIRED_COLUMNS = ("user_id", "item_id", "size", "category")
OPTIONAL_COLUMNS = (
    "height_in",
    "weight_lbs",
    "bust_size_num",
    "bust_size_letter",
    "body_type",
    "age",
    "rented_for",
)
FORBIDDEN_COLUMNS = ("rating", "recommend", "review_date", "review_text", "review_summary")
CUP_ORDER = {"aa": 0.0, "a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 6.0, "g": 7.0, "h": 8.0}
BODY_TYPES = ("hourglass", "athletic", "petite", "pear", "full bust", "straight & narrow", "apple")
# One RTR size step in the common range (0, 4, 8, 12 ...) is 4 units; a "small" review means the shopper's
# true size is about one step above what they rented.
SIZE_STEP = 4.0
PRIOR_WEIGHT = 5.0  # pseudo-counts that shrink per-user/per-item rates toward the global rate


def read_table(path: Path | str, *, need_label: bool) -> pd.DataFrame:
    """Read a RentTheRunway-format parquet file and check its columns, with errors a user can act on."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"data file not found: {p}", hint="pass a RentTheRunway-format .parquet file")
    try:
        df = pd.read_parquet(p)
    except Exception as e:  # pyarrow raises several types for a non-parquet file
        raise InputError(f"could not read {p} as parquet: {e}") from e
    need = list(REQUIRED_COLUMNS) + (["fit"] if need_label else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(
            f"{p} lacks column(s) {', '.join(missing)}",
            hint=f"expected at least {', '.join(need)}; optional: {', '.join(OPTIONAL_COLUMNS)}",
        )
    for c in OPTIONAL_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    if need_label:
        fit = df["fit"].astype(str)
        bad = ~fit.isin(LABELS)
        if bad.any():
            raise InputError(f"{p}: column fit has values outside small/fit/large: {sorted(fit[bad].unique())[:5]}")
    return df.reset_index(drop=True)


def label_codes(df: pd.DataFrame) -> np.ndarray:
    return df["fit"].astype(str).map(LABEL_INDEX).to_numpy(dtype=np.int64)


def base_features(df: pd.DataFrame) -> pd.DataFrame:
    """Person, item-category and size features that need no statistics."""
    out = pd.DataFrame(index=df.index)
    out["size"] = df["size"].astype(float)
    out["height_in"] = pd.to_numeric(df["height_in"], errors="coerce")
    out["weight_lbs"] = pd.to_numeric(df["weight_lbs"], errors="coerce")
    out["bust_num"] = pd.to_numeric(df["bust_size_num"], errors="coerce")
    letters = df["bust_size_letter"].astype(object).where(df["bust_size_letter"].notna(), None)
    out["cup"] = np.array([CUP_ORDER.get(str(v).lower(), np.nan) if v is not None else np.nan for v in letters])
    out["bust_volume"] = out["bust_num"] + 1.0 * out["cup"]
    out["age"] = pd.to_numeric(df["age"], errors="coerce")
    out["bmi"] = 703.0 * out["weight_lbs"] / out["height_in"] ** 2
    out["body_type"] = pd.Categorical(df["body_type"].astype("string"), categories=BODY_TYPES).codes.astype(float)
    out.loc[out["body_type"] < 0, "body_type"] = np.nan
    return out


@dataclass
class FitStats:
    """Aggregates of labelled transactions, indexed by user, item, (item, size) and category."""

    user: pd.DataFrame
    item: pd.DataFrame
    item_size: pd.DataFrame
    category: pd.DataFrame
    p_small: float
    p_large: float

    def save(self, d: Path) -> None:
        self.user.to_parquet(d / "user_stats.parquet")
        self.item.to_parquet(d / "item_stats.parquet")
        self.item_size.to_parquet(d / "item_size_stats.parquet")
        self.category.to_parquet(d / "category_stats.parquet")

    @classmethod
    def load(cls, d: Path, p_small: float, p_large: float) -> FitStats:
        return cls(
            user=pd.read_parquet(d / "user_stats.parquet"),
            item=pd.read_parquet(d / "item_stats.parquet"),
            item_size=pd.read_parquet(d / "item_size_stats.parquet"),
            category=pd.read_parquet(d / "category_stats.parquet"),
            p_small=p_small,
            p_large=p_large,
        )


def _agg(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    y = df["fit"].astype(str)
    size = df["size"].astype(float)
    t = pd.DataFrame(
        {
            **{k: df[k] for k in keys},
            "n": 1.0,
            "n_small": (y == "small").astype(float),
            "n_large": (y == "large").astype(float),
            "size": size,
            # the size that would have fitted, judged from the review
            "true_size": size + SIZE_STEP * ((y == "small").astype(float) - (y == "large").astype(float)),
            "n_fit": (y == "fit").astype(float),
            "size_fit": size.where(y == "fit", 0.0),
            "size_sq": size**2,
        }
    )
    g = t.groupby(keys, sort=False, observed=True).sum()
    return g


def compute_stats(df: pd.DataFrame) -> FitStats:
    """Aggregate a labelled table (the training rows other than the ones being featurised)."""
    y = df["fit"].astype(str)
    return FitStats(
        user=_agg(df, ["user_id"]),
        item=_agg(df, ["item_id"]),
        item_size=_agg(df, ["item_id", "size"]),
        category=_agg(df, ["category"]),
        p_small=float((y == "small").mean()),
        p_large=float((y == "large").mean()),
    )


def _rates(prefix: str, g: pd.DataFrame, p_small: float, p_large: float, out: pd.DataFrame) -> None:
    n = g["n"].fillna(0.0)
    out[f"{prefix}_n"] = n
    out[f"{prefix}_p_small"] = (g["n_small"].fillna(0.0) + PRIOR_WEIGHT * p_small) / (n + PRIOR_WEIGHT)
    out[f"{prefix}_p_large"] = (g["n_large"].fillna(0.0) + PRIOR_WEIGHT * p_large) / (n + PRIOR_WEIGHT)
    out[f"{prefix}_net"] = out[f"{prefix}_p_small"] - out[f"{prefix}_p_large"]


def stat_features(df: pd.DataFrame, stats: FitStats) -> pd.DataFrame:
    """Feedback features for `df` from `stats` (which must not contain `df`'s own labels)."""
    out = pd.DataFrame(index=df.index)
    size = df["size"].astype(float).to_numpy()
    ps, pl = stats.p_small, stats.p_large

    u = stats.user.reindex(df["user_id"].to_numpy())
    u.index = df.index
    _rates("user", u, ps, pl, out)
    out["user_mean_size"] = u["size"] / u["n"]
    out["user_true_size"] = u["true_size"] / u["n"]
    out["user_fit_size"] = u["size_fit"] / u["n_fit"].where(u["n_fit"] > 0)
    out["user_size_sd"] = np.sqrt(np.maximum(u["size_sq"] / u["n"] - out["user_mean_size"] ** 2, 0.0))
    out["size_vs_user"] = size - out["user_mean_size"]
    out["size_vs_user_true"] = size - out["user_true_size"]
    out["size_vs_user_fit"] = size - out["user_fit_size"]

    it = stats.item.reindex(df["item_id"].to_numpy())
    it.index = df.index
    _rates("item", it, ps, pl, out)
    out["item_mean_size"] = it["size"] / it["n"]
    out["item_true_size"] = it["true_size"] / it["n"]
    out["size_vs_item"] = size - out["item_mean_size"]
    out["size_vs_item_true"] = size - out["item_true_size"]

    key = pd.MultiIndex.from_arrays([df["item_id"].to_numpy(), df["size"].to_numpy()])
    isz = stats.item_size.reindex(key)
    isz.index = df.index
    # shrink the (item, size) rates toward the item's own rates
    n = isz["n"].fillna(0.0)
    out["item_size_n"] = n
    out["item_size_p_small"] = (isz["n_small"].fillna(0.0) + PRIOR_WEIGHT * out["item_p_small"]) / (n + PRIOR_WEIGHT)
    out["item_size_p_large"] = (isz["n_large"].fillna(0.0) + PRIOR_WEIGHT * out["item_p_large"]) / (n + PRIOR_WEIGHT)

    c = stats.category.reindex(df["category"].astype(str).to_numpy())
    c.index = df.index
    _rates("cat", c, ps, pl, out)
    out["cat_true_size"] = c["true_size"] / c["n"]
    # the shopper's usual true size, shifted by how this item runs relative to its category
    out["item_offset"] = out["item_true_size"] - out["item_mean_size"]
    out["size_vs_user_true_item"] = out["size_vs_user_true"] - out["item_offset"]
    return out
