"""Argo's unquoted `{{ placeholder }}` values are read as text, with a warning, keeping line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import importer
from sim.core.errors import ConfigError
from sim.importer.manifests import parse_manifests, quote_placeholders, read_manifests

# Not under data/manifests: the round-trip suites there expect every check to survive an export,
# and this example keeps a web check the simulation cannot export.
FILE = Path(__file__).resolve().parent / "data" / "placeholders" / "argo-placeholders.yaml"


def test_the_example_is_not_yaml_as_written():
    from sim.core import yamlsafe

    with pytest.raises(yamlsafe.YamlSyntaxError, match="not valid YAML"):
        yamlsafe.parse_all(FILE.read_text(), str(FILE))


def test_placeholders_read_as_text_with_a_warning_each():
    objs = read_manifests([FILE])
    template = next(m for m in objs if m.kind == "AnalysisTemplate")
    assert (
        template.get("spec", "metrics", 0, "provider", "prometheus", "address") == "{{ templates.address }}"
    )
    assert template.get("spec", "metrics", 1, "provider", "web", "url") == "{{args.url}}/health"
    query = template.get("spec", "metrics", 0, "provider", "prometheus", "query")
    assert '=~"{{args.service-name}}"' in query  # inside a block scalar: left exactly as written
    notes = [str(n) for n in template.notes]
    assert notes == [
        f"{FILE}: AnalysisTemplate/success-rate: line 34: {{{{ templates.address }}}} is not YAML as written:"
        " read as the text '{{ templates.address }}' (quote it in the file)",
        f"{FILE}: AnalysisTemplate/success-rate: line 41: {{{{args.url}}}}/health is not YAML as written:"
        " read as the text '{{args.url}}/health' (quote it in the file)",
        f"{FILE}: AnalysisTemplate/success-rate: line 44: {{{{args.service-name}}}} is not YAML as written:"
        " read as the text '{{args.service-name}}' (quote it in the file)",
    ]
    imported = importer.import_manifests([FILE])
    assert "guestbook" in imported.strategies
    assert sum("is not YAML as written" in str(w) for w in imported.warnings) == 3


def test_line_numbers_are_unchanged():
    text = FILE.read_text()
    fixed, quoted = quote_placeholders(text)
    assert len(fixed.splitlines()) == len(text.splitlines())
    assert [line for line, _ in quoted] == [34, 41, 44]
    # An error after the placeholders still names the line it is on in the file as written.
    bad = text.replace("failureLimit: 3", "failureLimit: lots")
    template = next(m for m in parse_manifests(bad, "f.yaml") if m.kind == "AnalysisTemplate")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "failureLimit" in t)
    assert line > 30 and template.lines[("spec", "metrics", 0, "failureLimit")] == line


def test_only_bare_placeholders_are_quoted():
    text = "a: '{{x}}'\nb: \"{{y}}\"\nc: {{z}}\nd:\n  - {{ w }}  # note\ne: |\n  f: {{v}}\n"
    fixed, quoted = quote_placeholders(text)
    assert fixed == "a: '{{x}}'\nb: \"{{y}}\"\nc: '{{z}}'\nd:\n  - '{{ w }}'  # note\ne: |\n  f: {{v}}\n"
    assert quoted == [(3, "{{z}}"), (5, "{{ w }}")]


def test_yaml_that_is_broken_otherwise_is_still_an_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_manifests("apiVersion: v1\nkind: [unclosed\nx: {{y}}\n", "f.yaml")
