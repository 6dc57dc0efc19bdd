"""Product photos texture garments: u2netp cut-out, dominant colour names, a seamless fabric tile."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from avatar.garments import OutfitItem, dress
from avatar.garments.anatomy import anny_body
from avatar.garments.photo import color_name, texture_from_photo
from avatar.garments.preview import render_meshes
from fitmirror.demo_catalog import demo_product
from fitmirror.errors import InputError

EXPECTED = {
    "ootd__02015_00.jpg": "yellow",  # yellow ribbed crop top
    "idmvton__09133_00.jpg": "white",  # white vest with buttons
    "idmvton__14627_00.jpg": "black",  # black wrap top
    "ootd__00055_00.jpg": "purple",  # lavender T-shirt
}


def _photo(shared_data, name):
    return np.asarray(Image.open(shared_data / "tryon-photos" / "garments" / name).convert("RGB"))


def test_manifest_lists_the_test_photos(shared_data):
    with open(shared_data / "tryon-photos" / "manifest.csv") as fh:
        files = {r["file"] for r in csv.DictReader(fh)}
    assert {f"garments/{n}" for n in EXPECTED} <= files


@pytest.mark.parametrize("name", list(EXPECTED))
def test_dominant_colour_of_product_photos(shared_data, name):
    r = texture_from_photo(_photo(shared_data, name))
    assert r.dominant == EXPECTED[name], r.colors
    assert 0.1 < r.mask.mean() < 0.8  # garment found, background removed
    assert r.texture.shape == (256, 256, 3)
    # Seamless: opposite tile edges match (mirror tiling).
    assert np.abs(r.texture[0].astype(int) - r.texture[-1].astype(int)).mean() < 12


def test_multicolour_print_is_patterned_and_textures_a_garment(shared_data, artifacts):
    r = texture_from_photo(_photo(shared_data, "ootd__00126_00.jpg"))  # red/white/navy colour-block tee
    names = [c[0] for c in r.colors]
    assert {"red", "navy"} <= set(names[:3]) and r.patterned
    v, f = anny_body(gender=1.0)
    tee = demo_product("tee-stripe")
    o = dress(v, f, [OutfitItem(tee, "S")], textures={tee.id: r.texture})
    assert o.meshes[0].texture is r.texture
    img = render_meshes([(v, f, np.array([0.86, 0.7, 0.6]))] + [(m.vertices, m.faces, m.colors) for m in o.meshes])
    Image.fromarray(np.concatenate([np.asarray(Image.fromarray(r.texture).resize((360, 360))), img[:360]], 1)).save(
        artifacts / "garments_photo_texture.png"
    )


def test_colour_names_and_bad_input():
    assert color_name((30, 40, 70)) == "navy"
    assert color_name((240, 240, 240)) == "white"
    with pytest.raises(InputError):
        texture_from_photo(np.full((64, 64), 255, np.uint8))
