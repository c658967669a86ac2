from __future__ import annotations

import pytest

from reelforge.catalog import Catalog
from reelforge.catalog.user_file import CatalogFileError


def write(tmp_path, text):
    p = tmp_path / "catalog.toml"
    p.write_text(text)
    return str(p)


def test_user_models_inherit_and_override_and_add_aliases(tmp_path):
    path = write(tmp_path, """
[models.my-ltx]
base = "ltx-tiny-random"
source = "/srv/models/my-ltx"
description = "mine"
default_steps = 12
default_speed = "fast"
aliases = ["veo-3-fast"]
credits_per_second = { "720p" = 2 }

[aliases]
"pixverse/v5/text-to-video" = "my-ltx"
""")
    c = Catalog(user_file=path)
    e = c.resolve("veo-3-fast")
    assert (e.id, e.source, e.default_steps, e.family, e.random_weights) == ("my-ltx", "/srv/models/my-ltx", 12, "ltx", False)
    assert e.extra["credits_per_second"] == {"720p": 2.0}
    assert (e.default_speed, e.speeds) == ("fast", ("exact", "fast"))
    assert c.resolve("pixverse/v5/text-to-video").id == "my-ltx"
    assert c.resolve("sora-2").id == "reelforge-tiny"


@pytest.mark.parametrize("text, fragment", [
    ("[models.x]\nsource='a'\n", "needs 'base'"),
    ("[models.x]\nbase='nope'\n", "base 'nope' is not a catalog model"),
    ("[models.x]\nbase='ltx-tiny-random'\ncolour='red'\n", "unknown key 'colour'"),
    ("[models.x]\nbase='ltx-tiny-random'\ndefault_steps='many'\n", "default_steps must be int"),
    ("[aliases]\na='nope'\n", "alias 'a' points at unknown model 'nope'"),
    ("[extras]\n", "unknown section"),
    ("not toml [", "catalog file"),
    ("[models.x]\nbase='reelforge-tiny'\ndefault_speed='fast'\n", "default_speed 'fast' is not a speed tier of family tiny"),
])
def test_mistakes_name_the_file_the_key_and_what_is_allowed(tmp_path, text, fragment):
    with pytest.raises(CatalogFileError, match=fragment):
        Catalog(user_file=write(tmp_path, text))


def test_memory_policy_overrides_only_the_keys_given(tmp_path):
    path = write(tmp_path, """
[models.big-ltx]
base = "ltx-video"
memory = { policy = "sequential_offload" }

[models.untiled]
base = "ltx-video"
memory = { vae_tiling = false }
""")
    c = Catalog(user_file=path)
    base = c.resolve("ltx-video").memory
    assert (base.policy, base.vae_tiling) == ("resident", True)
    big = c.resolve("big-ltx").memory
    assert (big.policy, big.vae_tiling) == ("sequential_offload", True)
    untiled = c.resolve("untiled").memory
    assert (untiled.policy, untiled.vae_tiling) == ("resident", False)


@pytest.mark.parametrize("memory, fragment", [
    ("{ policy = 'offload' }",
     "memory.policy 'offload' is not a memory policy; allowed: resident, model_offload, sequential_offload"),
    ("{ vae_tiling = 'yes' }", "memory.vae_tiling must be true or false, got 'yes'"),
    ("{ tiles = 4 }", r"unknown memory key\(s\) \['tiles'\]; allowed: policy, vae_tiling"),
    ("'model_offload'", "memory must be a table"),
])
def test_bad_memory_policy_names_the_value_and_what_is_allowed(tmp_path, memory, fragment):
    with pytest.raises(CatalogFileError, match=r"\[models\.x\]: " + fragment):
        Catalog(user_file=write(tmp_path, f"[models.x]\nbase='ltx-tiny-random'\nmemory = {memory}\n"))
