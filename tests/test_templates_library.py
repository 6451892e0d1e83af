"""Template library: versions, hashes, history, diff, restore, fork, import/export,
search, pinned deletes, concurrency, and includes resolved through the library."""

from __future__ import annotations

import threading

import pytest

from plotpalette.errors import (
    TemplateError,
    TemplateInUseError,
    TemplateNotFoundError,
)
from plotpalette.samples import sample_rows
from plotpalette.templates import Renderer, TemplateLibrary, parse_template


def qa_variant(text: str) -> str:
    return f"""
name: question_answer
description: variant {text}
category: qa
steps:
  - id: ask
    model: cheap
    prompt: "Ask about {{{{ poem.title }}}} ({text})"
  - id: answer
    model: premium
    prompt: "Answer {{{{ steps.ask.output }}}}"
"""


def test_builtins_are_version_one_in_a_fresh_workspace(workspace):
    library = TemplateLibrary(workspace)
    tpl = library.get("question_answer")
    assert tpl.version == 1 and tpl.ref == "question_answer@1"
    info = library.history("question_answer")[0]
    assert info.builtin and info.message == "built-in"
    assert "poem_context" in library.names()


def test_builtin_files_are_named_after_their_templates():
    from plotpalette.templates.fragments import builtin_names, builtin_template

    names = builtin_names()
    assert {"question_answer", "poem", "poem_context"} <= set(names)
    for name in names:
        assert builtin_template(name).name == name  # the library seeds by file name
    assert builtin_template("no_such_builtin") is None


def test_builtins_are_seeded_as_used_and_all_listed(workspace):
    library = TemplateLibrary(workspace)
    library.get("question_answer")
    stored = {key.split("/")[1] for key in workspace.store.list("templates/")}
    assert stored == {"question_answer"}  # one run parses and seeds only what it uses
    assert {"poem", "poem_context", "question_answer"} <= set(library.names())
    again = TemplateLibrary(workspace)
    assert again.get("poem").ref == "poem@1" and again.history("poem")[0].builtin
    with pytest.raises(TemplateError, match="already exists"):
        TemplateLibrary(workspace).fork("question_answer", "dialogue")
    with pytest.raises(TemplateError, match="built-in"):
        TemplateLibrary(workspace).delete("brainstorm")


def test_get_pinned_version_after_later_versions_exist(workspace):
    library = TemplateLibrary(workspace)
    v2 = library.save(qa_variant("two"))
    v3 = library.save(qa_variant("three"))
    v4 = library.save(qa_variant("four"))
    assert (v2.version, v3.version, v4.version) == (2, 3, 4)
    got = library.get("question_answer@2")
    assert got.version == 2 and got.description == "variant two"
    assert library.get("question_answer").version == 4
    assert TemplateLibrary(workspace).get("question_answer@2").description == "variant two"


def test_identical_content_creates_no_version(workspace):
    library = TemplateLibrary(workspace)
    first = library.save(qa_variant("same"))
    again = library.save(qa_variant("same"))
    assert again.version == first.version
    assert library.versions("question_answer") == [1, 2]
    assert first.content_hash == parse_template(qa_variant("same")).content_hash


def test_concurrent_saves_never_share_a_version(workspace):
    errors: list[BaseException] = []
    results: list[int] = []
    lock = threading.Lock()

    def save(i: int) -> None:
        try:
            tpl = TemplateLibrary(workspace).save(
                f"name: racer\nsteps:\n  - id: a\n    prompt: 'text {i}'\n"
            )
            with lock:
                results.append(tpl.version)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == list(range(1, 13))
    library = TemplateLibrary(workspace)
    prompts = {library.get(f"racer@{v}").steps[0].prompt for v in range(1, 13)}
    assert len(prompts) == 12


def test_history_diff_restore(workspace):
    library = TemplateLibrary(workspace)
    library.save(qa_variant("two"), message="second")
    library.save(qa_variant("three"))
    history = library.history("question_answer")
    assert [h.version for h in history] == [1, 2, 3]
    assert history[1].message == "second" and history[1].saved_at.endswith("Z")
    diff = library.diff("question_answer@2", "question_answer@3")
    assert diff.startswith("--- question_answer@2\n+++ question_answer@3")
    assert "-description: variant two" in diff and "+description: variant three" in diff
    restored = library.restore("question_answer@2")
    assert restored.version == 4
    assert restored.content_hash == library.get("question_answer@2").content_hash
    assert library.diff("question_answer@2", "question_answer") == ""


def test_fork_records_lineage(workspace):
    library = TemplateLibrary(workspace)
    fork = library.fork("poem", "my_poem")
    assert fork.ref == "my_poem@1" and fork.forked_from == "poem@1"
    assert library.history("my_poem")[0].forked_from == "poem@1"
    with pytest.raises(TemplateError, match="already exists"):
        library.fork("poem", "my_poem")


def test_import_export_round_trip(workspace, tmp_path):
    library = TemplateLibrary(workspace)
    path = library.export("dialogue@1", tmp_path / "dialogue.yaml")
    text = path.read_text()
    assert text.startswith("# exported from Plot Palette: dialogue@1")
    edited = text.replace("8-12 lines", "6-8 lines")
    (tmp_path / "edited.yaml").write_text(edited)
    imported = library.import_file(tmp_path / "edited.yaml")
    assert imported.ref == "dialogue@2"
    assert "6-8 lines" in library.get("dialogue").steps[0].prompt
    assert library.import_file(tmp_path / "dialogue.yaml").version == 3  # content differs again
    assert library.import_file(tmp_path / "dialogue.yaml").version == 3  # identical: none
    with pytest.raises(TemplateNotFoundError, match=r"missing\.yaml does not exist"):
        library.import_file(tmp_path / "missing.yaml")


def test_search(workspace):
    library = TemplateLibrary(workspace)
    assert library.search("dialogue")[0].name == "dialogue"
    by_description = {i.name for i in library.search("structured JSON")}
    assert by_description == {"brainstorm"}
    examples = {i.name for i in library.search(category="examples")}
    assert examples == {"conditional_example", "macro_example", "include_example"}
    assert library.search("no-such-words") == []


def test_unknown_names_and_versions(workspace):
    library = TemplateLibrary(workspace)
    with pytest.raises(TemplateNotFoundError, match="Did you mean question_answer"):
        library.get("question_answr")
    with pytest.raises(TemplateNotFoundError, match="no version 9"):
        library.get("poem@9")
    with pytest.raises(TemplateNotFoundError, match="whole number"):
        library.get("poem@latest")


def test_delete_refused_while_a_job_pins_it(workspace):
    library = TemplateLibrary(workspace)
    library.save("name: mine\nsteps:\n  - id: a\n    prompt: hi\n")
    # a job's snapshot of the template it pins (what create_job writes)
    workspace.store.write_bytes("jobs/job-1/template.yaml", library.get("mine").to_yaml().encode())
    with pytest.raises(TemplateInUseError, match="job-1"):
        library.delete("mine")
    workspace.store.delete("jobs/job-1/template.yaml")
    hooked = TemplateLibrary(workspace, pinned_by=lambda name: ["job-9"] if name == "mine" else [])
    with pytest.raises(TemplateInUseError, match="job-9"):
        hooked.delete("mine")
    assert library.delete("mine") == 1
    with pytest.raises(TemplateNotFoundError):
        library.get("mine")
    with pytest.raises(TemplateError, match="built-in"):
        library.delete("poem")


def test_includes_and_imports_resolve_through_the_library_with_versions(workspace):
    library = TemplateLibrary(workspace)
    library.save("name: greeting\nfragment: 'Hello v1 {{ who }}'\n")
    library.save("name: greeting\nfragment: 'Hello v2 {{ who }}'\n")
    library.save('name: tools\nfragment: "{% macro shout(x) %}{{ x|upper }}!{% endmacro %}"\n')
    tpl = parse_template("""
name: uses
steps:
  - id: a
    prompt: |
      {% include "greeting@1" %}
      {% include "greeting" %}
      {% import "tools@1" as t %}{{ t.shout(who) }}
""")
    r = Renderer(tpl, library)
    assert r.dependencies == {
        "greeting@1": "greeting@1",
        "greeting": "greeting@2",
        "tools@1": "tools@1",
    }
    prompt = r.render_step("a", r.context({"who": "Ada"}, record_index=0, rng_seed=0)).prompt
    assert prompt == "Hello v1 Ada\nHello v2 Ada\nADA!"
    assert r.inputs().field("who").required


def test_builtin_include_example_works_from_the_library(workspace):
    library = TemplateLibrary(workspace)
    tpl = library.get("include_example")
    r = Renderer(tpl, library)
    ctx = r.context(sample_rows()[0], record_index=0, rng_seed=0)
    assert r.render_step("title", ctx).prompt.startswith('Poem: "Harbour at Six" by Mara')
