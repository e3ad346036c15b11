"""The Templates of a build: the user's folder first, one environment per escaping policy,
compiled templates kept apart by policy, and a fingerprint that follows every template."""

from __future__ import annotations

import pickle

import pytest

from reportgen.errors import ReportgenError
from reportgen.publish.escaping import HTML_ESCAPING, MARKDOWN_ESCAPING
from reportgen.publish.templates import Templates, packaged_templates


def test_the_search_path_puts_the_user_folder_first(tmp_path):
    packaged = Templates().search_path
    assert packaged == [packaged_templates()] and (packaged[0] / "report.html.j2").is_file()
    assert Templates(tmp_path).search_path == [tmp_path, *packaged]


def test_a_user_file_overrides_the_packaged_one_by_name(tmp_path):
    assert Templates(tmp_path).file("slider.js") == packaged_templates() / "slider.js"
    (tmp_path / "slider.js").write_text("// mine\n")
    assert Templates(tmp_path).file("slider.js") == tmp_path / "slider.js"


def test_each_policy_has_its_environment_made_once():
    templates = Templates()
    html, markdown = (templates.environment(p) for p in (HTML_ESCAPING, MARKDOWN_ESCAPING))
    assert html.autoescape and not markdown.autoescape
    assert templates.environment(HTML_ESCAPING) is html
    assert html.filters["text"] is HTML_ESCAPING.filters["text"]
    assert "yaml_quoted" in markdown.filters and "yaml_quoted" not in html.filters


def test_render_escapes_by_policy_and_tidies_blank_lines(tmp_path):
    (tmp_path / "t.j2").write_text("{{ value|text }}  \n\n\n\n{{ value }}\n\n")
    templates = Templates(tmp_path)
    value = "<b>{{ x }}</b>"
    html = templates.render(HTML_ESCAPING, "t.j2", {"value": value})
    assert html == b"&lt;b&gt;{{ x }}&lt;/b&gt;\n\n&lt;b&gt;{{ x }}&lt;/b&gt;\n"
    markdown = templates.render(MARKDOWN_ESCAPING, "t.j2", {"value": value}).decode()
    assert markdown.startswith("&#60;b&#62;&#123;&#123; x &#125;&#125;")


def test_template_problems_are_one_line_messages(tmp_path):
    (tmp_path / "bad.j2").write_text("{% if %}\n")
    with pytest.raises(ReportgenError, match=r"bad\.j2:1"):
        Templates(tmp_path).render(HTML_ESCAPING, "bad.j2", {})


def test_the_fingerprint_follows_the_user_templates(tmp_path):
    assert Templates().fingerprint == Templates().fingerprint
    (tmp_path / "_intro.j2").write_text("one\n")
    first = Templates(tmp_path).fingerprint
    assert first != Templates().fingerprint
    (tmp_path / "_intro.j2").write_text("two\n")
    assert Templates(tmp_path).fingerprint != first


def test_the_fingerprint_does_not_depend_on_where_the_templates_are(tmp_path):
    """Two checkouts or environments of the same version share a cache's pages."""
    for folder in ("here", "there"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "_intro.j2").write_text("one\n")
    assert Templates(tmp_path / "here").fingerprint == Templates(tmp_path / "there").fingerprint
    (tmp_path / "there/_intro.j2").rename(tmp_path / "there/_other.j2")
    assert Templates(tmp_path / "here").fingerprint != Templates(tmp_path / "there").fingerprint


def rollout_bullet(templates: Templates) -> str:
    environment = templates.environment(HTML_ESCAPING)
    return environment.loader.get_source(environment, "methods/rollout.j2")[0]


def test_a_map_method_bullet_is_a_template_the_user_can_override(tmp_path):
    assert "Attention rollout" in rollout_bullet(Templates())  # the text of the registry's method
    packaged = Templates(tmp_path).fingerprint
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "rollout.j2").write_text("{% call m.item() %}Mine.{% endcall %}\n")
    assert rollout_bullet(Templates(tmp_path)).startswith("{% call m.item() %}Mine.")
    assert Templates(tmp_path).fingerprint != packaged


def test_compiled_templates_are_kept_apart_by_policy(tmp_path):
    templates = Templates(bytecode_dir=tmp_path)
    templates.compile([HTML_ESCAPING, MARKDOWN_ESCAPING])
    assert any((tmp_path / "autoescape").glob("*.cache"))
    assert any((tmp_path / "verbatim").glob("*.cache"))


def test_templates_travel_to_a_worker_without_their_environments(tmp_path):
    templates = Templates(tmp_path, tmp_path / "bytecode")
    templates.environment(HTML_ESCAPING)
    copy = pickle.loads(pickle.dumps(templates))
    assert copy.search_path == templates.search_path and copy.bytecode_dir == tmp_path / "bytecode"
    assert copy.file("report.html.j2") == templates.file("report.html.j2")
