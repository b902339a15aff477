"""The plan's YAML comes from PyYAML's own emitter: libyaml's is faster but does not write the same bytes."""

from __future__ import annotations

import pytest
import yaml

from hybrid_infra import yamltext

VSPHERE_CONF = (
    "global:\n  port: 443\n  secretName: vsphere-cloud-secret\n  secretNamespace: kube-system\n"
    "  thumbprint: 3A:9F:1C:44:8B:0E:72:D5:19:6A:C3:F0:28:5B:E7:91:4D:A6:0C:B2\nvcenter:\n"
    "  vcenter.example.com:\n    server: vcenter.example.com\n    datacenters:\n    - dc-1\n"
)


def test_the_default_emitter_is_pyyamls_own():
    document = {"data": {"vsphere.conf": VSPHERE_CONF}, "list": ["x" * 200]}
    assert yamltext.dump(document, sort_keys=True) == yaml.safe_dump(document, sort_keys=True)
    assert yamltext.dump_all([document, document], sort_keys=False) == yaml.safe_dump_all(
        [document, document], sort_keys=False
    )


@pytest.mark.skipif(not yamltext.LIBYAML, reason="PyYAML was built without libyaml")
def test_libyaml_folds_a_long_double_quoted_string_elsewhere():
    """Why libyaml's emitter is not the default: the vSphere CPI's ConfigMap came out different."""
    document = {"data": {"vsphere.conf": VSPHERE_CONF}}
    fast = yamltext.dump(document, sort_keys=True, fast=True)
    pure = yamltext.dump(document, sort_keys=True)
    assert yaml.safe_load(fast) == yaml.safe_load(pure) == document
    assert fast != pure
