"""The product's vocabulary, defined once: garment categories, colour families, letter sizes, views and layouts.

Everything else derives from here: the catalogue schema (`fitmirror/catalog.py`), the command schema and the
LLM prompts (`nlu/`), the size charts (`avatar/sizing/charts.py`, the demo catalogue), the control protocol
(`server/protocol.py`), the session state and the web client (`web_client/js/vocab.js`, generated from this
module by `scripts/update_web_vocab.py`; `tests/test_vocab.py` checks it is up to date).

Ground floor: this module imports nothing of the project. Each vocabulary is a `Literal` type (for pydantic and
the type checkers) and the tuple of its values, in order. Sizes are ordered smallest to largest, so "one size
up" is the next entry (`size_step`).
"""

from __future__ import annotations

from typing import Literal, get_args

Category = Literal[
    "tshirt", "shirt", "blouse", "sweater", "jacket", "coat", "dress", "skirt", "trousers", "jeans", "shorts"
]
ColorName = Literal[
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "navy", "purple", "pink", "brown", "beige"
]
LetterSize = Literal["XXS", "XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL"]
ViewName = Literal["front", "back", "left", "right", "three_quarter"]
LayoutName = Literal["mosaic", "tracks", "stereo", "mirror"]

CATEGORIES: tuple[str, ...] = get_args(Category)
COLORS: tuple[str, ...] = get_args(ColorName)
SIZES: tuple[str, ...] = get_args(LetterSize)  # smallest to largest
VIEWS: tuple[str, ...] = get_args(ViewName)
LAYOUTS: tuple[str, ...] = get_args(LayoutName)


def size_slice(first: str, last: str) -> tuple[str, ...]:
    """The letter sizes from `first` to `last`, both included, e.g. `size_slice("XS", "XXL")`."""
    i, j = SIZES.index(first), SIZES.index(last)
    if j < i:
        raise ValueError(f"{last} is smaller than {first}")
    return SIZES[i : j + 1]


# The sizes the demo size charts cover (fitmirror/demo_catalog.py, avatar/sizing/charts.py); the vocabulary is wider
# because a shop's catalogue and the shopper's words may go beyond them.
DEMO_SIZES: tuple[str, ...] = size_slice("XS", "XXL")


def size_step(size: str, step: int, sizes: tuple[str, ...] | list[str] = SIZES) -> str | None:
    """The size `step` places from `size` in `sizes` (the whole vocabulary unless given); None past either end
    or when `size` is not in `sizes`."""
    if size not in sizes:
        return None
    i = list(sizes).index(size) + step
    return sizes[i] if 0 <= i < len(sizes) else None
