"""Manifests: what loads, what is refused (every error names the file and the key), and the
bundled references and mutants."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.clause import REGISTRY
from conformance.manifest import (
    MANIFEST_NAME,
    ManifestError,
    bundled,
    from_command,
    load,
)
from conformance.models import MODELS

Write = Callable[..., Path]
VALID = """
name = "alice-epoll"
model = "epoll-et"
service = "echo"
command = ["./server", "{port}"]
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Write:
    """Write a manifest (a complete valid one, with lines added or removed) and load it."""

    def write(extra: str = "", *, drop: str = "", text: str | None = None) -> Path:
        lines = [ln for ln in VALID.splitlines() if not (drop and ln.startswith(drop + " "))]
        path = tmp_path / "sub" / MANIFEST_NAME
        path.parent.mkdir(exist_ok=True)
        path.write_text(text if text is not None else "\n".join(lines) + "\n" + extra,
                        encoding="utf-8")
        return path

    return write


def error_of(path: Path) -> str:
    with pytest.raises(ManifestError) as info:
        load(path)
    return str(info.value)


def test_a_valid_manifest_loads_with_defaults(manifest: Write) -> None:
    path = manifest('description = "Alice"\n[xfail]\n"CAPACITY-2" = "fixed table"\n')
    impl = load(path)
    assert (impl.name, impl.model, impl.service) == ("alice-epoll", "epoll-et", "echo")
    assert impl.platforms == MODELS["epoll-et"].platforms
    assert impl.command == ("./server", "{port}")
    assert impl.cwd == path.parent.resolve()
    assert impl.description == "Alice"
    assert dict(impl.xfail) == {"CAPACITY-2": "fixed table"}
    assert impl.must_fail == ()
    assert impl.source == str(path)


def test_a_folder_means_the_manifest_inside_it(manifest: Write) -> None:
    path = manifest()
    assert load(path.parent) == load(path)


def test_a_command_string_is_split_like_a_shell(manifest: Write) -> None:
    impl = load(manifest(drop="command", extra="command = \"./srv --name 'a b' {port}\"\n"))
    assert impl.command == ("./srv", "--name", "a b", "{port}")


def test_cwd_is_relative_to_the_manifest(manifest: Write) -> None:
    path = manifest('cwd = "../build"\n')
    assert load(path).cwd == (path.parent.parent / "build").resolve()


@pytest.mark.parametrize("service", ["echo", "print", "echo-only"])
def test_every_service_is_accepted(manifest: Write, service: str) -> None:
    assert load(manifest(f'service = "{service}"\n', drop="service")).service == service


def test_a_command_line_takes_echo_only() -> None:
    impl = from_command("threaded", "echo-only", ["./server", "{port}"])
    assert impl.service == "echo-only"


@pytest.mark.parametrize(
    ("extra", "drop", "key", "problem"),
    [
        ('colour = "red"\n', "", "colour", "unknown key"),
        ("", "name", "name", "is required"),
        ("", "model", "model", "is required"),
        ("", "service", "service", "is required"),
        ("", "command", "command", "is required"),
        ('name = "a b"\n', "name", "name", "must be letters"),
        ('model = "kqueue-xyz"\n', "model", "model", "unknown model 'kqueue-xyz'"),
        ('service = "chat"\n', "service", "service",
         "unknown service 'chat' (known: echo, print, echo-only)"),
        ('platforms = ["plan9"]\n', "", "platforms", "must be a non-empty list"),
        ("platforms = []\n", "", "platforms", "must be a non-empty list"),
        ('platforms = "linux"\n', "", "platforms", "must be a non-empty list"),
        ('command = ["./server"]\n', "command", "command", "has no '{port}'"),
        ('command = "./server"\n', "command", "command", "has no '{port}'"),
        ("command = 42\n", "command", "command", "must be a string or a list of strings"),
        ('command = ["./s", 1]\n', "command", "command", "must be a string or a list of strings"),
        ("command = []\n", "command", "command", "is empty"),
        ("command = \"./s '{port}\"\n", "command", "command", "cannot split"),
        ("cwd = 3\n", "", "cwd", "must be a string"),
        ("description = 3\n", "", "description", "must be a string"),
        ('xfail = ["ECHO-1"]\n', "", "xfail", "must be a table"),
        ('[xfail]\n"echo-1" = "lower case"\n', "", "xfail", "must be a table"),
        ('[xfail]\n"ECHO-1" = ""\n', "", "xfail", "must be a table"),
        ('[xfail]\n"ECHO-1" = 1\n', "", "xfail", "must be a table"),
        ('[xfail]\n"ECHO-99" = "no such clause"\n', "", "xfail.ECHO-99", "no such clause"),
        ('must_fail = "ET-1"\n', "", "must_fail", "must be a list of clause IDs"),
        ('must_fail = ["ET1"]\n', "", "must_fail", "must be a list of clause IDs"),
    ],
)
def test_errors_name_the_file_and_the_key(manifest: Write, extra: str, drop: str, key: str,
                                          problem: str) -> None:
    path = manifest(extra, drop=drop)
    message = error_of(path)
    assert message.startswith(f"{path}: key '{key}': ")
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("extra", "key"),
    [('model = ["epoll-et"]\n', "model"), ("model = { a = 1 }\n", "model"),
     ('platforms = ["linux", ["darwin"]]\n', "platforms")],
)
def test_values_of_the_wrong_toml_type_are_manifest_errors(manifest: Write, extra: str,
                                                           key: str) -> None:
    path = manifest(extra, drop=key if key == "model" else "")
    assert error_of(path).startswith(f"{path}: key '{key}': ")


def test_invalid_toml_names_the_file(manifest: Write) -> None:
    path = manifest(text='name = "unterminated\n')
    message = error_of(path)
    assert message.startswith(f"{path}: not valid TOML: ")


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.toml").startswith(f"{tmp_path / 'nope.toml'}: cannot read")
    assert error_of(tmp_path).startswith(f"{tmp_path / MANIFEST_NAME}: cannot read")


# -- placeholders and programs -------------------------------------------------------------
def test_argv_substitutes_port_and_python() -> None:
    impl = from_command("poll", "echo", ["{python}", "srv.py", "--listen=:{port}", "{port}"])
    assert impl.argv(4711) == [sys.executable, "srv.py", "--listen=:4711", "4711"]
    assert impl.source == "command line"


def test_executable_resolves_relative_paths_against_cwd(tmp_path: Path) -> None:
    prog = tmp_path / "bin" / "server"
    prog.parent.mkdir()
    prog.write_text("#!/bin/sh\n", encoding="utf-8")
    impl = from_command("poll", "echo", ["bin/server", "{port}"], cwd=str(tmp_path))
    assert impl.executable() is None  # not executable yet
    prog.chmod(0o755)
    assert impl.executable() == str(tmp_path / "bin" / "server")
    assert from_command("poll", "echo", ["./bin/nothing", "{port}"],
                        cwd=str(tmp_path)).executable() is None


def test_executable_looks_up_bare_names_in_path(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    prog = tmp_path / "my-echo-server"
    prog.write_text("#!/bin/sh\n", encoding="utf-8")
    prog.chmod(0o755)
    impl = from_command("poll", "echo", ["my-echo-server", "{port}"])
    monkeypatch.setenv("PATH", os.defpath)
    assert impl.executable() is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert impl.executable() == str(prog)
    assert from_command("poll", "echo", ["{python}", "{port}"]).executable() == sys.executable


def test_from_command_validates_like_a_manifest() -> None:
    with pytest.raises(ManifestError, match=r"command line: key 'command': has no '\{port\}'"):
        from_command("poll", "echo", ["./server"])
    with pytest.raises(ManifestError, match="command line: key 'model': unknown model"):
        from_command("kqueue-xyz", "echo", ["./server", "{port}"])


# -- what ships ------------------------------------------------------------------------------
def test_bundled_references_load() -> None:
    impls = bundled()
    assert [i.name for i in impls] == sorted(i.name for i in impls)
    assert len({i.name for i in impls}) == len(impls) >= 1
    # A reference with a build step has its program only once built.
    assert all(not i.must_fail and (i.executable() or i.build) for i in impls)
    assert {i.model for i in impls} >= {"blocking", "select", "poll", "epoll-lt", "epoll-et"}
    assert {i.service for i in impls} == {"echo", "print", "echo-only"}


def test_every_mutant_names_registered_clauses_it_must_fail() -> None:
    mutants = bundled(mutants=True)
    assert mutants
    for m in mutants:
        assert m.must_fail, f"{m.name} declares no must_fail"
        assert set(m.must_fail) <= REGISTRY.keys(), f"{m.name}: {m.must_fail}"
        assert m.executable() or m.build, f"{m.name}: no program, and no build to make it"
    assert not {m.name for m in mutants} & {i.name for i in bundled()}


def test_a_fixed_port_lets_the_command_go_without_one(manifest: Write) -> None:
    """A program that hard-codes its port (the seed's createSocketConfig(3000)) says so."""
    impl = load(manifest(text=VALID.replace('"{port}"', '"3000"') + "port = 3000\n"))
    assert (impl.port, impl.argv(3000)) == (3000, ["./server", "3000"])
    assert from_command("poll", "echo", ["./prog"], port=8080).port == 8080
    with pytest.raises(ManifestError, match="check --port N"):
        from_command("poll", "echo", ["./prog"])


@pytest.mark.parametrize("port", ["0", "65536", "true", '"3000"', "3000.0"])
def test_a_fixed_port_is_a_port_number(manifest: Write, port: str) -> None:
    with pytest.raises(ManifestError, match=r"key 'port'.*TCP port number"):
        load(manifest(f"port = {port}"))


def test_a_command_line_names_a_windows_program() -> None:
    """check --platform windows: a Windows program on Linux runs under Wine, and a command
    that already starts with wine gets no second one."""
    from conformance.harness import wine

    impl = from_command("select", "echo", ["wine", "prog.exe", "{port}"], platform="windows")
    assert impl.platforms == frozenset({"windows"})
    assert wine.emulates(impl.platforms) == (sys.platform == "linux")
    assert wine.wrap(["wine", "prog.exe", "1"]) == ["wine", "prog.exe", "1"]
    assert wine.wrap(["/usr/bin/wine64", "x.exe"]) == ["/usr/bin/wine64", "x.exe"]
    assert wine.wrap(["prog.exe"])[1:] == ["prog.exe"]
    with pytest.raises(ManifestError, match="key 'platforms'"):
        from_command("select", "echo", ["prog", "{port}"], platform="amiga")
