import pytest

from reelforge.api.forms import nest_form
from reelforge.errors import InvalidRequest


def test_brackets_rebuild_nested_objects_and_lists():
    got = nest_form([("prompt", "p"), ("input_reference[image_url]", "https://x/y.png"), ("video[id]", "video_1"),
                     ("tags[]", "a"), ("tags[]", "b"), ("a[b][c]", "d")])
    assert got == {"prompt": "p", "input_reference": {"image_url": "https://x/y.png"}, "video": {"id": "video_1"},
                   "tags": ["a", "b"], "a": {"b": {"c": "d"}}}


def test_malformed_keys_are_rejected_with_the_key():
    with pytest.raises(InvalidRequest, match=r"a\]b"):
        nest_form([("a]b", "x")])


def test_lists_of_objects_in_bracket_form():
    got = nest_form([("loras[][name]", "a"), ("loras[][strength]", "0.5"), ("loras[][name]", "b"),
                     ("loras[][strength]", "1")])
    assert got == {"loras": [{"name": "a", "strength": "0.5"}, {"name": "b", "strength": "1"}]}
    # The order the OpenAI SDK sends them in (extra_body={"loras": [{...}, {...}]}).
    got = nest_form([("loras[][name]", "a"), ("loras[][name]", "b"), ("loras[][strength]", "0.5"),
                     ("loras[][strength]", "1")])
    assert got == {"loras": [{"name": "a", "strength": "0.5"}, {"name": "b", "strength": "1"}]}
