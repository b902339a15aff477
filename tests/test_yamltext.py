"""The plan's YAML: libyaml's emitter writes a document only where it writes PyYAML's bytes."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hybrid_infra import yamltext

VSPHERE_CONF = (
    "global:\n  port: 443\n  secretName: vsphere-cloud-secret\n  secretNamespace: kube-system\n"
    "  thumbprint: 3A:9F:1C:44:8B:0E:72:D5:19:6A:C3:F0:28:5B:E7:91:4D:A6:0C:B2\nvcenter:\n"
    "  vcenter.example.com:\n    server: vcenter.example.com\n    datacenters:\n    - dc-1\n"
)
needs_libyaml = pytest.mark.skipif(not yamltext.LIBYAML, reason="PyYAML was built without libyaml")


def pyyaml(data, **options) -> str:
    return yamltext.dump(data, fast=False, **options)


def test_the_default_writes_pyyamls_own_bytes():
    document = {"data": {"vsphere.conf": VSPHERE_CONF}, "list": ["x" * 200]}
    assert yamltext.dump(document, sort_keys=True) == yaml.safe_dump(document, sort_keys=True)
    assert yamltext.dump_all([document, document], sort_keys=False) == yaml.safe_dump_all(
        [document, document], sort_keys=False
    )


@needs_libyaml
def test_libyaml_folds_a_long_double_quoted_string_elsewhere():
    """Why libyaml's emitter does not write every document: the vSphere CPI's ConfigMap came out different."""
    document = {"data": {"vsphere.conf": VSPHERE_CONF}}
    fast = yamltext.dump(document, sort_keys=True, fast=True)
    pure = pyyaml(document, sort_keys=True)
    assert yaml.safe_load(fast) == yaml.safe_load(pure) == document
    assert fast != pure
    assert not yamltext.libyaml_writes_the_same(document, literal_blocks=False)
    assert yamltext.dump(document, sort_keys=True) == pure


def test_what_pyyaml_would_double_quote_stays_with_pyyaml():
    same = yamltext.libyaml_writes_the_same
    assert same({"runcmd": ["systemctl start kubelet"], "content": "a\nb\n"}, literal_blocks=True)
    assert same({"key": "one line: with 'quotes' and # marks"}, literal_blocks=False)
    assert not same({"content": "a\nb\n"}, literal_blocks=False)  # multi-line, no literal block asked
    assert not same({"content": "a \nb\n"}, literal_blocks=True)  # a space before a line break
    assert not same({"content": "a\nb "}, literal_blocks=True)  # a block cannot end in a space
    assert not same({"tab": "a\tb"}, literal_blocks=True)
    assert not same({"name": "café"}, literal_blocks=True)
    assert not same({"a\nb": "key on two lines"}, literal_blocks=True)
    assert not same([{"deep": [{"deeper": "\x00"}]}], literal_blocks=True)
    assert not same({"blob": b"\x00\x01"}, literal_blocks=True)
    # Found by the generated documents below: PyYAML ends these with "..." or writes a complex key.
    assert not same("a scalar at the top", literal_blocks=True)
    assert not same(["\n", ""], literal_blocks=True)
    assert not same({"content": "kept\n\n"}, literal_blocks=True)
    assert not same({"": None}, literal_blocks=True)
    assert not same({"k" * 128: None}, literal_blocks=True)


# Strings from the characters that steer PyYAML's choice of style: indicators, quotes, spaces,
# line breaks, a tab and a non-ASCII letter.
text = st.text(alphabet=st.sampled_from(list("ab09 -:#'\"!&*|>?,[]{}%@`\n\t.é")), max_size=120)
scalars = st.one_of(text, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=20,
)


@needs_libyaml
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, literal_blocks=st.booleans(), width=st.sampled_from([None, 20, 40, 4096]))
@example(document={"data": {"vsphere.conf": VSPHERE_CONF}}, literal_blocks=False, width=None)
@example(document=["\n", ""], literal_blocks=True, width=None)
@example(document={"": None}, literal_blocks=False, width=None)
def test_libyaml_writes_pyyamls_bytes_wherever_it_is_let(document, literal_blocks, width):
    if not yamltext.libyaml_writes_the_same(document, literal_blocks):
        assert yamltext.dump(document, sort_keys=True, literal_blocks=literal_blocks, width=width) == pyyaml(
            document, sort_keys=True, literal_blocks=literal_blocks, width=width
        )
        return
    fast = yamltext.dump(document, sort_keys=True, literal_blocks=literal_blocks, width=width, fast=True)
    assert fast == pyyaml(document, sort_keys=True, literal_blocks=literal_blocks, width=width)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, literal_blocks=st.booleans())
def test_what_it_writes_loads_back_the_same_with_either_parser(document, literal_blocks):
    written = yamltext.dump(document, sort_keys=True, literal_blocks=literal_blocks)
    assert yamltext.load(written) == yaml.safe_load(written)
