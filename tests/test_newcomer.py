"""What a new user runs into first: the set-up (``make serve`` / ``make test``, tools/setup.sh),
a base URL without ``/api/v1``, fitness code that does not compile, installing the package.

The set-up tests run tools/setup.sh with stand-ins for ``python3``, ``apt-get`` and ``id`` on
``PATH`` (they log what they were asked to do), so they check what it does without
installing anything or creating a real virtualenv.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
import vilvik

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "tools" / "setup.sh"


# ---------------------------------------------------------------------- a base URL without /api/v1

def test_the_sdk_with_a_base_url_without_api_v1_is_told_where_the_api_is(vilvik_emulator_server, vilvik_api_key):
    client = vilvik.Client(api_key=vilvik_api_key, base_url=vilvik_emulator_server.url)
    expected = f"the API lives under /api/v1: use the base URL {vilvik_emulator_server.url}/api/v1"
    with pytest.raises(vilvik.exceptions.NotFoundError) as listed:
        client.submissions.list()  # the dashboard's page of submissions, parsed as an empty list, before
    assert expected in listed.value.message
    with pytest.raises(vilvik.exceptions.NotFoundError) as created:
        client.submissions.create(fitness_func="def fitness_func(ga, s, i):\n    return 0\n", num_genes=2)  # a bare 405
    assert created.value.code == "not_found" and expected in created.value.message
    with pytest.raises(vilvik.exceptions.NotFoundError) as health:
        client.health()
    assert expected in health.value.message


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer vlk_test_whatever"}, {"Accept": "application/json"}])
def test_an_api_looking_request_on_a_dashboard_path_gets_a_json_404(vilvik_emulator_server, headers):
    for method, path in (("GET", "/"), ("GET", "/submissions"), ("POST", "/submissions"), ("GET", "/nowhere"),
                         ("GET", "/api/submissions")):
        response = requests.request(method, vilvik_emulator_server.url + path, headers=headers, timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.headers["Content-Type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "not_found" and "/api/v1" in error["message"], (method, path, error)


def test_browsers_and_the_dashboards_own_scripts_still_get_the_dashboard(vilvik_emulator_server, vilvik_client):
    page = requests.get(vilvik_emulator_server.url + "/submissions", timeout=10,
                        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert requests.get(vilvik_emulator_server.url + "/", timeout=10).headers["Content-Type"].startswith("text/html")
    submission = vilvik_client.submissions.create(fitness_func="def fitness_func(ga, s, i):\n    return 0\n",
                                                  num_genes=2, num_generations=1, sol_per_pop=4)
    status = requests.get(f"{vilvik_emulator_server.url}/submissions/{submission.id}/status.json", timeout=10,
                          headers={"Accept": "application/json"})
    assert status.status_code == 200 and status.json()["id"] == submission.id


# ---------------------------------------------------------------------- fitness code that does not compile

def test_fitness_code_with_a_syntax_error_is_said_not_to_compile_through_the_sdk(vilvik_client):
    broken = "def fitness_func(ga_instance, solution, solution_idx):\n    return sum(solution\n"
    with pytest.raises(vilvik.exceptions.ValidationError) as refused:
        vilvik_client.submissions.create(fitness_func=broken, num_genes=3)
    message = str(refused.value)
    assert "does not compile (line 2, column 15)" in message, message
    assert "fitness_func_entry is required" not in message


# ---------------------------------------------------------------------- make serve / make test: tools/setup.sh

def _stand_ins(tmp_path: Path, uid: int) -> dict:
    """``id``, ``apt-get`` and a ``python3`` whose venv and pip only log what they were asked,
    each noting whether the set-up lock (flock on the repository) was held at the time."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    held = f'$(flock -n "{ROOT}" true && echo unlocked || echo locked)'
    scripts = {
        "id": f'[ "$1" = -u ] && echo {uid} || exec /usr/bin/id "$@"',
        "apt-get": f'echo "apt-get $* {held}" >>"{log}"\n'
                   'case " $* " in *" install "*) printf "#!/bin/sh\\n" >"$VILVIK_TEST_CHROMIUM"; '
                   'chmod +x "$VILVIK_TEST_CHROMIUM";; esac',
        "python3": textwrap.dedent(f"""\
            if [ "$1 $2" = "-m venv" ]; then
                echo "venv $3 {held}" >>"{log}"
                mkdir -p "$3/bin" && cp "{bin_dir}/venv-python" "$3/bin/python"
            else
                exec {sys.executable} "$@"
            fi"""),
        # pip download (the SDK's sdist) leaves a tarball of a tests/ directory in the -d directory, its last argument
        "venv-python": textwrap.dedent(f"""\
            [ "$1" = -c ] && exit 0
            shift 2
            echo "pip $* {held}" >>"{log}"
            if [ "$1" = download ]; then
                for last; do :; done
                mkdir -p "$last/src/vilvik-0.5.7/tests"
                tar -czf "$last/vilvik-0.5.7.tar.gz" -C "$last/src" vilvik-0.5.7 && rm -r "$last/src"
            fi"""),
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": "python3",
            "VENV": str(tmp_path / "venv"), "VILVIK_TEST_CHROMIUM": str(tmp_path / "chromium")}


def _logged(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return log.read_text().splitlines() if log.exists() else []


def _make_dry_run(target: str) -> subprocess.CompletedProcess:
    """What ``make TARGET`` would run (also when this suite itself runs under ``make test``)."""
    env = {name: value for name, value in os.environ.items() if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", "-n", target], cwd=ROOT, capture_output=True, text=True,
                          check=True, env=env)


def test_make_test_checks_the_system_before_anything_else():
    dry_run = _make_dry_run("test")
    first = dry_run.stdout.splitlines()[0]
    assert first.endswith("tools/setup.sh install test"), dry_run.stdout


def test_a_missing_chromium_gets_the_exact_command_to_install_it(tmp_path):
    env = _stand_ins(tmp_path, uid=1000)
    missing = subprocess.run([str(SETUP), "install", "test"], env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
    assert missing.returncode == 1
    assert "\n    sudo apt-get install chromium\n" in missing.stderr, missing.stderr
    assert f"needs Chromium at {tmp_path / 'chromium'}" in missing.stderr
    assert "Traceback" not in missing.stderr and "playwright install" not in missing.stderr.replace("never `", "")
    assert _logged(tmp_path) == []  # nothing installed, no virtualenv made
    serve = subprocess.run([str(SETUP), "prerequisites", "serve"], env=env, capture_output=True, text=True)
    assert serve.returncode == 0, serve.stderr  # make serve does not need a browser


def test_root_with_a_terminal_is_shown_the_command_too(tmp_path):
    env = _stand_ins(tmp_path, uid=0)
    controller, terminal = pty.openpty()
    try:
        missing = subprocess.run([str(SETUP), "prerequisites", "test"], env=env, capture_output=True, text=True,
                                 stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert missing.returncode == 1
    assert "\n    apt-get install chromium\n" in missing.stderr, missing.stderr
    assert _logged(tmp_path) == []


def test_root_without_a_terminal_installs_what_is_missing_under_the_lock(tmp_path):
    env = _stand_ins(tmp_path, uid=0)
    done = subprocess.run([str(SETUP), "prerequisites", "test"], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert _logged(tmp_path) == ["apt-get update -q locked",
                                 "apt-get install -y -q --no-install-recommends chromium locked"]
    refused = subprocess.run([str(SETUP), "prerequisites", "test"], capture_output=True, text=True,
                             env={**env, "VILVIK_TEST_CHROMIUM": str(tmp_path / "elsewhere"),
                                  "VILVIK_SETUP_INSTALL": "never"}, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "apt-get install chromium" in refused.stderr


def test_the_virtualenv_is_made_and_installed_into_once_under_the_lock(tmp_path):
    env = _stand_ins(tmp_path, uid=1000)
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    # make serve and make test started at the same moment, as in two terminals
    both = [subprocess.Popen([str(SETUP), "install", target], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for target in ("serve", "test")]
    outputs = [process.communicate(timeout=120)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    lines = _logged(tmp_path)
    assert lines.count(f"venv {tmp_path / 'venv'} locked") == 1, lines
    assert all(line.endswith(" locked") for line in lines), lines
    assert "pip install --quiet --upgrade pip locked" in lines
    assert "pip install --quiet -e .[test] locked" in lines
    # make test also fetches the SDK's sdist (its tests witness the hosted shapes), once
    (download,) = [line for line in lines if line.startswith("pip download")]
    assert download.startswith("pip download --quiet --no-deps --no-binary :all: vilvik==0.5.7 -d ")
    assert download.endswith(" locked"), download
    assert (tmp_path / "venv" / "sdk-source" / "vilvik-0.5.7" / "tests").is_dir()
    # Nothing to do the second time, for either target.
    for target in ("serve", "test"):
        again = subprocess.run([str(SETUP), "install", target], env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
    assert _logged(tmp_path) == lines


# ---------------------------------------------------------------------- installing the package

def _sh_block(markdown: Path) -> list[str]:
    block = re.search(r"```sh\n(.*?)```", markdown.read_text(), re.DOTALL)
    assert block, f"{markdown}: no sh block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_example_project_is_installed_exactly_as_its_readme_says():
    readme = _sh_block(ROOT / "examples" / "client-project" / "README.md")
    dry_run = _make_dry_run("example-test")
    made = [line.removeprefix("cd examples/client-project && ").replace("--quiet ", "")
            for line in dry_run.stdout.splitlines()]
    version = re.search(r'__version__ = "(.*)"', (ROOT / "vilvik_emulator" / "__init__.py").read_text()).group(1)
    assert readme[0] == "(cd ../.. && make dist)" and any("pip wheel" in line for line in made)
    for command in readme[1:]:
        assert any(line.startswith(command) for line in made), (command, made)
    assert f"vilvik_emulator-{version}-py3-none-any.whl" in readme[2]


@pytest.mark.slow
def test_building_the_packages_prints_no_deprecation_warning(tmp_path):
    """``project.license`` as a TOML table printed a deprecation warning three times per install."""
    for project in (ROOT, ROOT / "examples" / "client-project"):
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--wheel-dir",
                                str(tmp_path), str(project)], capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        output = (built.stdout + built.stderr).lower()
        assert "deprecat" not in output, [line for line in output.splitlines() if "deprecat" in line]
