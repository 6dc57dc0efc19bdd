"""Body shape: (a) from typed measurements, (b) from a photo plus the person's height, (c) refined from live frames.

(a) Gauss-Newton on anny's six phenotype parameters, with a finite-difference Jacobian from one batched anny
call per iteration (7 rest meshes), so the tape-measured height, mass (mesh volume x density) and girths of the
model match the targets. Girths the user did not type are estimated from height and weight by a linear
regression fitted on ANSUR II (its residual spread is the stated uncertainty) and enter the fit with that
lower weight. Plausibility is checked against ANSUR II's observed ranges (with a margin: soldiers are a
narrower population than shoppers).

(b) From a photo, two methods (`shape_from_photo(method=...)`), measured side by side in benchmarks/avatar.py:
- "widths" (default): with the whole body in the picture, the person's width is measured in the soft mask at 13
  torso rows (crotch to armpits; rows that end at an arm are left out), 3 shoulder rows (arms included) and two
  rows per thigh, at fractions of the body's image height, and Gauss-Newton moves the phenotypes until the posed
  model's widths at the same fractions of its own image height match, with the typed height as a target and a
  population prior (ANSUR II bodies in anny's space) for what a front view cannot see. Scaling by image height
  rather than by landmarks keeps the placement's depth error out. Without the whole body (a desk, a close-up),
  the girths are rescaled by person/model width ratios at the three girth rows instead. `fit_info["variant"]`
  says which ran;
- "silhouette": a differentiable silhouette fit through render/diff.py (`silhouette_fit`): the posed vertices
  are linearised in the phenotypes, and Adam matches the model's soft torso silhouette to the mask (arms cut out)
  while keeping the landmarks and the height. On synthetic bodies it was less accurate than "widths" (the waist
  especially: a frontal silhouette does not fix the body's depth, and pose errors leak into the shape), so it is
  not the default.
Clothing widens the silhouette, so girths from clothed photos are biased upwards (stated in the uncertainty).

(c) `LiveShapeEstimator` accumulates per-frame width ratios over the first seconds and solves once from their
medians, so one bad frame does not decide the shape.

Modules (import from `avatar.shape`; the submodules import each other, never this package):
- measurements.py: `shape_from_measurements`, (a);
- solver.py: `solve_phenotype`, the Gauss-Newton on the phenotypes that (a), (b) and (c) share;
- girths.py: `estimate_from_height_weight`, the ANSUR II girth regression (shipped avatar/girth_regression.json);
- ranges.py: `check_plausible`, `plausible_ranges` (shipped avatar/data/ansur_ranges.json);
- prior.py: `population_prior`, the photo fit's prior (shipped avatar/phenotype_prior.json);
- photo.py: `shape_from_photo`, (b), with photo_widths.py ("widths") and photo_silhouette.py ("silhouette");
- silhouette.py: silhouettes and width ratios in the image, for (b) and (c);
- live.py: `LiveShapeEstimator`, (c);
- ansur_data.py: `ansur`, `ansur_subject_shape`, the raw ANSUR II data from ../shared/data, for benchmarks,
  scripts and tests only: nothing at run time reads it."""

from __future__ import annotations

from avatar.shape.ansur_data import ANSUR_COLUMNS, ANSUR_DIR, ansur, ansur_subject_shape
from avatar.shape.girths import (
    GIRTH_KEYS,
    GIRTH_REGRESSION_PATH,
    GirthRegression,
    estimate_from_height_weight,
    girth_regression,
)
from avatar.shape.live import LiveShapeEstimator
from avatar.shape.measurements import GIRTHS, shape_from_measurements
from avatar.shape.photo import PHOTO_METHODS, shape_from_photo
from avatar.shape.photo_silhouette import (
    SIL_ARM_BAND,
    SIL_BELOW_HIPS,
    SIL_LANDMARKS,
    SIL_SIDE_PX,
    SIL_SIGMA_PX,
    SIL_STEPS,
    silhouette_fit,
)
from avatar.shape.photo_widths import (
    FULL_ROW_FRACS,
    ROW_FRACS,
    ROW_HUBER_PX,
    ROW_ITERATIONS,
    ROW_SIGMA_PX,
    ROW_STARTS,
    THIGH_FRACS,
    model_row_widths,
    model_run_widths,
    person_row_widths,
)
from avatar.shape.photo_widths import _unpitched_bones as _unpitched_bones
from avatar.shape.photo_widths import _without_pitch as _without_pitch
from avatar.shape.prior import PRIOR_COV_FLOOR, PRIOR_KEYS, PRIOR_PATH, population_prior
from avatar.shape.ranges import ANSUR_RANGES_RESOURCE, check_plausible, plausible_ranges
from avatar.shape.silhouette import rasterize_silhouette, silhouette_ratios
from avatar.shape.solver import BOUNDS, PRIOR_CENTRE, solve_phenotype

__all__ = [
    "ANSUR_COLUMNS",
    "ANSUR_DIR",
    "ANSUR_RANGES_RESOURCE",
    "BOUNDS",
    "FULL_ROW_FRACS",
    "GIRTHS",
    "GIRTH_KEYS",
    "GIRTH_REGRESSION_PATH",
    "PHOTO_METHODS",
    "PRIOR_CENTRE",
    "PRIOR_COV_FLOOR",
    "PRIOR_KEYS",
    "PRIOR_PATH",
    "ROW_FRACS",
    "ROW_HUBER_PX",
    "ROW_ITERATIONS",
    "ROW_SIGMA_PX",
    "ROW_STARTS",
    "SIL_ARM_BAND",
    "SIL_BELOW_HIPS",
    "SIL_LANDMARKS",
    "SIL_SIDE_PX",
    "SIL_SIGMA_PX",
    "SIL_STEPS",
    "THIGH_FRACS",
    "GirthRegression",
    "LiveShapeEstimator",
    "ansur",
    "ansur_subject_shape",
    "check_plausible",
    "estimate_from_height_weight",
    "girth_regression",
    "model_row_widths",
    "model_run_widths",
    "person_row_widths",
    "plausible_ranges",
    "population_prior",
    "rasterize_silhouette",
    "shape_from_measurements",
    "shape_from_photo",
    "silhouette_fit",
    "silhouette_ratios",
    "solve_phenotype",
]
