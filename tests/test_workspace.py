import json

import pytest

from plotpalette import Workspace
from plotpalette.errors import WorkspaceError


def test_open_creates_folder_and_marker(tmp_path):
    ws = Workspace.open(tmp_path / "new")
    marker = json.loads((tmp_path / "new" / "workspace.json").read_text())
    assert marker["layout_version"] == 1
    assert ws.root == (tmp_path / "new").resolve()


def test_default_location_comes_from_env(isolated_env):
    assert Workspace.open().root == isolated_env.resolve()


def test_create_false_refuses_missing(tmp_path):
    with pytest.raises(WorkspaceError, match="no workspace"):
        Workspace.open(tmp_path / "absent", create=False)


def test_s3_location_without_credentials_says_how_to_configure_them():
    # No credentials in the isolated environment: refused before any request is sent.
    with pytest.raises(WorkspaceError, match="no AWS credentials") as info:
        Workspace.open("s3://bucket/prefix")
    assert "aws configure" in info.value.fix


def test_a_file_is_not_a_workspace(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkspaceError, match="not a folder"):
        Workspace.open(tmp_path / "f")


def test_newer_layout_is_refused(tmp_path):
    (tmp_path / "workspace.json").write_text(json.dumps({"layout_version": 99}))
    with pytest.raises(WorkspaceError, match="newer Plot Palette"):
        Workspace.open(tmp_path)


def test_damaged_marker_is_reported(tmp_path):
    (tmp_path / "workspace.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match="damaged"):
        Workspace.open(tmp_path)
