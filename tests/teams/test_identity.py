"""Identity rules: header mode's bind check and the groups file's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from teams.groups_file import GroupsDirectory, GroupsFileError
from teams.identity import Identities, UnsafeBindError, check_bind
from tests.assistant.conftest import llm_settings


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_header_mode_refuses_a_public_bind(tmp_path: Path, address: str) -> None:
    settings = llm_settings(None, tmp_path, auth="header")
    with pytest.raises(UnsafeBindError, match="MSRAG_TRUSTED_PROXY"):
        check_bind(settings, address)
    check_bind(llm_settings(None, tmp_path, auth="header", trusted_proxy=True), address)
    check_bind(llm_settings(None, tmp_path, auth="none"), address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_header_mode_on_loopback_is_fine(tmp_path: Path, address: str) -> None:
    check_bind(llm_settings(None, tmp_path, auth="header"), address)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- just a list\n", "must map users"),
        ("bob@example.com: {hr: 1}\n", "list of groups"),
        ("bob@example.com: ['*']\n", "not a valid group name"),
        ("bob: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_broken_groups_file_is_one_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "groups.yaml"
    path.write_text(content)
    with pytest.raises(GroupsFileError, match=message):
        GroupsDirectory(path).groups_of("bob@example.com")


def test_a_missing_groups_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(GroupsFileError, match="MSRAG_GROUPS_FILE"):
        GroupsDirectory(tmp_path / "nope.yaml").groups_of("bob")


def test_without_a_groups_file_users_are_in_no_group(tmp_path: Path) -> None:
    ids = Identities(llm_settings(None, tmp_path, auth="header"))
    bob = ids.from_headers({"X-Forwarded-Email": "bob@example.com"})
    assert bob is not None and bob.groups == () and not bob.admin and bob.access == ()
    assert ids.local().access is None  # none mode: one local user, unrestricted


def test_header_values_with_control_characters_are_refused(tmp_path: Path) -> None:
    ids = Identities(llm_settings(None, tmp_path, auth="header"))
    assert ids.from_headers({"X-Forwarded-Email": "bob@example.com\nadmin"}) is None
    assert ids.from_headers({"X-Forwarded-Email": "x" * 400}) is None
