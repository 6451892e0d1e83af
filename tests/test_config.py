import pytest

from plotpalette import Settings
from plotpalette.errors import ConfigError


def write_config(workspace, text):
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "config.yaml").write_text(text)


def test_defaults_when_nothing_is_set(isolated_env, monkeypatch):
    monkeypatch.delenv("PLOTPALETTE_WORKSPACE")
    s = Settings.load()
    assert s.backend == "local"
    assert s.workspace.endswith("plotpalette-workspace")
    assert s.sources["backend"] == "default"


def test_precedence_argument_env_file_default(isolated_env, monkeypatch):
    write_config(isolated_env, "backend: bedrock\nregion: eu-west-1\nconcurrency: 3\n")
    monkeypatch.setenv("PLOTPALETTE_REGION", "us-west-2")
    monkeypatch.setenv("PLOTPALETTE_CONCURRENCY", "5")
    s = Settings.load(concurrency=7)
    assert (s.backend, s.sources["backend"]) == ("bedrock", "config.yaml")
    assert (s.region, s.sources["region"]) == ("us-west-2", "env PLOTPALETTE_REGION")
    assert (s.concurrency, s.sources["concurrency"]) == (7, "argument")
    assert s.sources["aws_profile"] == "default"


def test_tier_env_overrides_one_tier_only(monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_TIER_PREMIUM", "us.anthropic.claude-haiku-4-5-20251001-v1:0")
    s = Settings.load()
    assert s.tiers["premium"].startswith("us.anthropic")
    assert s.tiers["cheap"] == "amazon.nova-micro-v1:0"


def test_none_arguments_are_ignored():
    assert Settings.load(backend=None).sources["backend"] == "default"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"backend": "openai"}, "unknown backend"),
        ({"concurrency": 0}, "at least 1"),
        ({"concurrency": "many"}, "whole number"),
        ({"colour": "red"}, "unknown setting"),
    ],
)
def test_bad_values_are_clear_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        Settings.load(**kwargs)
    assert info.value.fix


def test_broken_config_file_names_the_file(isolated_env):
    write_config(isolated_env, "backend: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config\.yaml is not valid YAML"):
        Settings.load()


def test_unknown_key_in_config_file(isolated_env):
    write_config(isolated_env, "bakend: bedrock\n")
    with pytest.raises(ConfigError, match="unknown setting 'bakend'"):
        Settings.load()


def test_replace_revalidates():
    s = Settings.load()
    assert s.replace(backend="bedrock").backend == "bedrock"
    with pytest.raises(ConfigError):
        s.replace(backend="nope")
