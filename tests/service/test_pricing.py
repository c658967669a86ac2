"""``price``: frames x pixels, with the catalog file's resolution tiers, on models with and without menus."""

from __future__ import annotations

import pytest

from reelforge.catalog import Catalog
from reelforge.catalog.user_file import CatalogFileError
from reelforge.service.pricing import credits_per_second, price
from reelforge.service.specs import VideoRequest, build_spec


def catalog(tmp_path, text: str | None = None) -> Catalog:
    if text is None:
        return Catalog()
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return Catalog(user_file=str(path))


def charge(cat: Catalog, **fields) -> int:
    spec = build_spec(cat, VideoRequest(prompt="a red circle moves right", **fields))
    return price(cat.resolve(spec.model), spec)


def test_the_readme_prices_of_the_built_in_model(tmp_path):
    cat = catalog(tmp_path)
    assert charge(cat) == 4  # the default clip: 4 s of 720x1280
    assert charge(cat, size="256x256") == 1  # a fraction of a credit, rounded up
    assert charge(cat, size="1792x1024", seconds=12, fps=30) == 90


def test_a_tier_on_a_model_without_menus_prices_the_sizes_of_its_short_side(tmp_path):
    # The built-in model has no vendor menus; its sizes are named by their short side, as its Syllaby menu shows.
    cat = catalog(tmp_path, '[models.reelforge-tiny]\nbase = "reelforge-tiny"\n'
                            'credits_per_second = { "720p" = 3, "default" = 2 }\n')
    tiny = cat.resolve("reelforge-tiny")
    assert [tiny.resolution_of(s) for s in ("1280x720", "720x1280", "256x256", "640x360")] == ["720p", "720p", "256p", None]
    assert tiny.resolution_labels() == ("720p", "1024p", "256p", "512p")
    # 4 s at 8 fps is 32 frames: 3 x 32 / 8 in either orientation, the tier pricing its own pixels.
    assert charge(cat, size="1280x720", seconds=4) == charge(cat, size="720x1280", seconds=4) == 12
    # A size without a tier: the default rate, scaled by its pixels over the default size's.
    assert credits_per_second(tiny, "512x512") == pytest.approx(2 * 512 * 512 / (720 * 1280))
    assert charge(cat, size="512x512", seconds=8) == 5  # ceil(2 x 64 / 8 x 0.284) = ceil(4.55)


def test_a_tier_on_a_menu_model_prices_its_menu_sizes(tmp_path):
    cat = catalog(tmp_path, '[models.my-wan]\nbase = "wan2.1-t2v-14b"\ncredits_per_second = { "480p" = 3 }\n')
    wan = cat.resolve("my-wan")
    assert wan.resolution_of("832x480") == "480p" and wan.resolution_of("1280x720") == "720p"
    # 5 s at 16 fps is 81 frames (4k+1): ceil(3 x 81 / 16).
    assert charge(cat, model="my-wan", size="832x480", seconds=5) == 16
    # 720p has no tier: the default 1 per second, times its pixels over the default size's (1280x720).
    assert charge(cat, model="my-wan", size="1280x720", seconds=5) == 6


def test_fps_changes_the_price_only_through_the_frames_it_makes(tmp_path):
    cat = catalog(tmp_path, '[models.reelforge-tiny]\nbase = "reelforge-tiny"\ncredits_per_second = { "720p" = 3 }\n')
    # The same 32 frames at 8 or 16 fps is the same work; 4 s at 16 fps is twice the frames.
    assert charge(cat, size="1280x720", num_frames=32, fps=8) == charge(cat, size="1280x720", num_frames=32, fps=16) == 12
    assert charge(cat, size="1280x720", seconds=4, fps=16) == 24


def test_a_tier_that_no_size_of_the_model_has_is_refused_naming_its_tiers(tmp_path):
    with pytest.raises(CatalogFileError) as info:
        catalog(tmp_path, '[models.house]\nbase = "reelforge-tiny"\ncredits_per_second = { "480p" = 3 }\n')
    assert "credits_per_second names 480p" in str(info.value)
    assert "its tiers: 720p, 1024p, 256p, 512p (and default)" in str(info.value)
