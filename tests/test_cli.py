"""The amlexec command line, driven through main() as a user would run it.

Every failure must reach the user as one line on stderr, ``amlexec: error: <what> (<where>); <what to do>``,
and a documented exit code; never a traceback, never the Azure SDK's own multi-line reports.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from conftest import AZURE_ML_SERVICE, EXAMPLES, ROOT, SEED_ACTIVITY
from fakes.workspace import LINKED_SERVICES, WS, World, make_world

import amlexec
from amlexec import cli
from amlexec.cli import EXIT_CODES, main
from amlexec.clock import ManualClock
from amlexec.errors import Issue, PermanentError, TransientError
from amlexec.handlers import Worker
from amlexec.inprocess import InProcessHost
from amlexec.launch.failures import AccessDenied
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.settings import Settings

PIPELINE_ID = "0a77f445-258e-4349-9895-e555060b32d8"
AZURE_PAYLOAD = {
    "name": "Score",
    "type": "AzureMLExecutePipeline",
    "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
    "typeProperties": {"mlPipelineId": PIPELINE_ID, "experimentName": "scoring"},
}


PROGRESS_LINE = re.compile(r"^amlexec: \d+:\d\d:\d\d .*\n", re.M)


def one_line(err: str) -> str:
    """The single error line a failure prints (after ``amlexec run``'s progress lines, if any); fails the test if
    there is more, or a traceback."""
    assert "Traceback" not in err
    err = PROGRESS_LINE.sub("", err)
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
    assert err.startswith("amlexec: "), err
    return err.rstrip("\n")


def fails(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process, expect ``code``, and return its one error line."""
    try:
        got = main(argv)
    except BaseException as exc:  # a KeyboardInterrupt escaping main would stop the whole session
        pytest.fail(f"main raised {exc!r} instead of returning {code}")
    assert got == code
    line = one_line(capsys.readouterr().err)
    assert line.startswith("amlexec: error: ")
    return line


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED_ACTIVITY))
    services = tmp_path / "ls.json"
    services.write_text(json.dumps([AZURE_ML_SERVICE]))
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "x",
                "type": "AzureMLExecutePipeline",
                "typeProperties": {"mlPipelineId": 1, "experimentName": "@concat("},
            }
        )
    )
    return {"seed": seed, "services": services, "bad": bad}


def test_seed_example_validates_structurally(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(files["seed"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid")
    assert "linked services not checked" in out


def test_seed_example_validates_with_a_configured_linked_service(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(files["seed"]), "--linked-services", str(files["services"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid")
    assert "published pipeline machine learning pipeline ID via AzureMLService" in out
    assert "warning typeProperties.mlPipelineId: does not look like a published pipeline id" in out
    seed = json.loads(files["seed"].read_text())
    seed["typeProperties"]["mlPipelineId"] = "0a77f445-258e-4349-9895-e555060b32d8"
    files["seed"].write_text(json.dumps(seed))
    assert main(["validate", str(files["seed"]), "--linked-services", str(files["services"])]) == 0
    assert "published pipeline 0a77f445" in capsys.readouterr().out


def test_invalid_file_lists_every_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(files["bad"]), str(files["seed"])]) == 2
    report = json.loads(capsys.readouterr().out)
    bad, seed = report["files"]
    assert not bad["valid"] and seed["valid"]
    assert {e["path"] for e in bad["errors"]} == {"typeProperties.mlPipelineId", "typeProperties.experimentName"}


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Reported with the other files, but "could not check it" is not "checked, and it is invalid".
    assert main(["validate", str(tmp_path / "nope.json")]) == 66
    captured = capsys.readouterr()
    assert "cannot read file" in captured.out
    assert one_line(captured.err).startswith("amlexec: error: cannot read 1 of 1 file(s)")


def test_bad_linked_services_file_is_a_configuration_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert main(["validate", str(files["seed"]), "--linked-services", str(broken)]) == 1
    assert "configuration error" in capsys.readouterr().err


def test_resolve_prints_the_launch_request(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "resolve",
            str(EXAMPLES / "payloads" / "loan_scoring.json"),
            "--linked-services",
            str(EXAMPLES / "linked_services.json"),
            "--param",
            "region=apac",
            "--param",
            "threshold=0.5",
            "--trigger-time",
            "2026-11-21T02:00:00Z",
            "--request-id",
            "r-1",
        ]
    )
    assert code == 0
    request = json.loads(capsys.readouterr().out)
    assert request["target"]["kind"] == "local_pipeline"
    assert request["experiment_name"] == "loan-scoring-apac"
    assert request["parameters"]["threshold"] == 0.5
    assert request["parameters"]["region"] == "APAC"
    assert request["parameters"]["dry_run"] is False
    assert request["parameters"]["scoring_date"] == "2026-11-21"
    assert request["correlation_id"] == "demo-loan-scoring-2026-11-21"


def test_resolve_without_linked_services_is_a_configuration_error(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a usage error: AMLEXEC_LINKED_SERVICES_FILE in the environment is as good as the option.
    assert main(["resolve", str(files["seed"])]) == 1
    assert "AMLEXEC_LINKED_SERVICES_FILE" in one_line(capsys.readouterr().err)


def test_expr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["expr", "@add(1, 2)"]) == 0
    assert capsys.readouterr().out == "3\n"
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"pipeline": {"parameters": {"name": "world"}}}))
    assert main(["expr", "concat('hello ', pipeline().parameters.name)", "--context", str(context)]) == 0
    assert capsys.readouterr().out == '"hello world"\n'
    assert main(["expr", "@utcNow()", "--now", "2026-01-02T03:04:05Z"]) == 0
    assert capsys.readouterr().out == '"2026-01-02T03:04:05.0000000Z"\n'
    assert main(["expr", "@add(1"]) == 2
    assert "position" in capsys.readouterr().err


def test_schema_matches_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    committed = (Path(__file__).resolve().parents[1] / "schemas" / "activity-payload.schema.json").read_text()
    assert capsys.readouterr().out == committed, "run `make schema` and commit schemas/"


def test_run_launches_locally_and_follows_to_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(tmp_path / "runs"))
    args = [
        "run",
        str(EXAMPLES / "payloads" / "loan_scoring.json"),
        "--linked-services",
        str(EXAMPLES / "linked_services.json"),
        "--request-id",
        "cli-run-1",
        "--param",
        "region=apac",
    ]
    monkeypatch.setenv("AMLEXEC_POLL_INITIAL_SECONDS", "0.2")
    monkeypatch.setenv("AMLEXEC_POLL_MAX_SECONDS", "1")
    assert main(args) == 0
    out, err = capsys.readouterr()
    started, finished = (json.loads(line) for line in out.splitlines())
    # Progress goes to stderr, a plain line per change when stderr is not a terminal; stdout stays JSON lines.
    seen = [line.split(" ", 2)[2] for line in err.splitlines()]
    assert seen[0] == "launched, waiting for the run" and any(s.startswith("run ") for s in seen[1:-1])
    assert err.splitlines()[-1].endswith("ended: completed")
    assert started["type"] == "com.amlexec.run.started"
    assert finished["type"] == "com.amlexec.run.completed"
    assert finished["data"]["parameters"]["region"] == "APAC"
    assert main([*args, "--no-wait"]) == 0
    (again,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert again["subject"] == started["subject"], "the same request id finds the same run"


def test_run_looks_at_the_run_after_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from amlexec import inprocess

    seen: list[tuple[float, float]] = []
    original = inprocess.InProcessHost.__post_init__

    def record(host: inprocess.InProcessHost) -> None:
        tracking = host.worker.tracking
        seen.append((tracking.initial_delay.total_seconds(), tracking.max_delay.total_seconds()))
        original(host)

    monkeypatch.setattr(inprocess.InProcessHost, "__post_init__", record)
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(tmp_path / "runs"))
    payload = str(EXAMPLES / "payloads" / "loan_scoring.json")
    assert main(["run", payload, "--linked-services", str(EXAMPLES / "linked_services.json")]) == 0
    assert seen == [(1.0, 60.0)], "a person is waiting: the app's 15 s first look and 5 min spacing are for no one"
    capsys.readouterr()


def test_run_progress_is_a_live_line_on_a_terminal() -> None:
    from datetime import UTC, datetime, timedelta

    from amlexec.cli import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [datetime(2026, 11, 21, tzinfo=UTC)]
    terminal = Terminal()
    progress = _Progress(terminal, lambda: now[0])
    progress.status("run Running")
    now[0] += timedelta(minutes=61, seconds=5)
    progress.tick()
    progress.clear()
    assert terminal.getvalue().split("\r\x1b[2K") == [
        "",
        "amlexec: 0:00:00 run Running",
        "amlexec: 1:01:05 run Running",
        "",
    ]


# ------------------------------------------------------------------------------- exit codes and --version


def test_exit_codes_are_distinct_and_keep_the_documented_ones() -> None:
    codes = [code for code, _ in EXIT_CODES]
    assert len(codes) == len(set(codes))
    assert {0, 1, 2, 3, 64, 130} <= set(codes)


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "amlexec: error: <what> (<where>); <what to do>" in out
    listed = {
        int(line.split()[0])
        for line in out.split("exit codes", 1)[1].splitlines()
        if line.strip()[:3].strip().isdigit()
    }
    assert listed == {code for code, _ in EXIT_CODES}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"amlexec {importlib.metadata.version('amlexec')}\n"
    assert importlib.metadata.version("amlexec") == amlexec.__version__


def test_verbose_goes_before_or_after_the_command_and_leaves_logging_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, own = logging.getLogger(), logging.getLogger("amlexec")
    handlers, level = list(root.handlers), own.level
    assert main(["-v", "expr", "@add(1, 2)"]) == 0
    assert main(["expr", "@add(1, 2)", "--verbose"]) == 0
    assert capsys.readouterr().out == "3\n3\n"
    assert root.handlers == handlers and own.level == level


# --------------------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["validate"],
        ["validate", "x.json", "--param", "novalue"],
        ["resolve", "x.json", "--trigger-time", "yesterday"],
        ["run", "x.json", "--param", "=x"],
        ["expr", "@utcNow()", "--now", "never"],
        ["rejected", "resubmit", "--sequence", "x"],
        ["schema", "--foo"],
    ],
    ids=lambda argv: " ".join(argv) or "no-command",
)
def test_usage_errors_exit_64_not_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's own 2 would read as "invalid payload" to a script checking the exit code.
    line = fails(argv, 64, capsys)
    assert line.endswith("--help'")


def test_resubmit_without_a_sequence_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(["rejected", "resubmit"], 64, capsys)
    assert "--sequence" in line and "amlexec rejected list" in line


# -------------------------------------------------------------------------------------- input files


@pytest.mark.parametrize("command", ["resolve", "run"])
def test_a_missing_payload_file_exits_66(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    line = fails([command, str(missing), "--linked-services", str(EXAMPLES / "linked_services.json")], 66, capsys)
    assert line == (
        f"amlexec: error: cannot read payload: No such file or directory ({missing}); check the path "
        "(a file, not a folder) and that you may read it"
    )


@pytest.mark.parametrize("command", ["resolve", "run", "send"])
def test_a_folder_given_as_payload_exits_66(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    line = fails(
        [command, str(tmp_path), "--linked-services", str(EXAMPLES / "linked_services.json")]
        if command != "send"
        else [command, str(tmp_path)],
        66,
        capsys,
    )
    assert f"cannot read payload: Is a directory ({tmp_path})" in line


def test_resubmit_with_a_missing_body_exits_66(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    missing = tmp_path / "fixed.json"
    line = fails(["rejected", "resubmit", "--sequence", "7", "--body", str(missing)], 66, capsys)
    assert f"cannot read payload (--body): No such file or directory ({missing})" in line


def test_a_missing_context_file_exits_66(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(["expr", "@add(1, 2)", "--context", str(tmp_path / "ctx.json")], 66, capsys)
    assert "cannot read --context file: No such file or directory" in line


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"pipeline": {\n', "is not valid JSON: Expecting property name enclosed in double quotes at line 2"),
        (b"[1, 2]", "holds a JSON list, not an object"),
        (b'"text"', "holds a JSON str, not an object"),
        (b"null", "holds a JSON NoneType, not an object"),
        (b"\xff\xfe{}", "is not UTF-8 text (byte 0)"),
    ],
    ids=["invalid-json", "array", "string", "null", "not-utf8"],
)
def test_a_context_that_is_not_a_json_object_is_invalid(
    content: bytes, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "ctx.json"
    context.write_bytes(content)
    line = fails(["expr", "@add(1, 2)", "--context", str(context)], 2, capsys)
    assert f"amlexec: error: --context file {problem}" in line
    assert f"({context}); it must hold one JSON object" in line


# ---------------------------------------------------------------------------------- invalid payloads


@pytest.mark.parametrize("command", ["resolve", "run"])
@pytest.mark.parametrize(
    "case",
    [
        (
            b"{bad\n",
            "payload is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2 "
            '(expected a JSON object, got string "{bad\\n")',
        ),
        (b"\xff\xfe{}", "payload is not UTF-8 text (byte 0) (expected UTF-8 JSON, got binary data)"),
    ],
    ids=["invalid-json", "not-utf8"],
)
def test_an_invalid_payload_is_one_line_and_exit_2(
    command: str,
    case: tuple[bytes, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content, problem = case
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(tmp_path / "runs"))
    payload = tmp_path / "payload.json"
    payload.write_bytes(content)
    assert main([command, str(payload), "--linked-services", str(EXAMPLES / "linked_services.json")]) == 2
    captured = capsys.readouterr()
    # The payload's own line break is shown escaped: it cannot split the one line.
    assert one_line(captured.err) == f"amlexec: error: invalid payload: $: {problem} ({payload}); fix the payload"
    if command == "run":
        (event,) = (json.loads(line) for line in captured.out.splitlines())
        assert event["type"] == "com.amlexec.run.rejected"


def test_validate_ends_with_one_summary_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(files["bad"]), str(files["seed"])]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("INVALID")
    assert one_line(captured.err) == (
        f"amlexec: error: 1 of 2 payload(s) invalid ({files['bad']}); fix the errors listed above"
    )


def test_send_refuses_an_invalid_payload_in_one_line(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    line = fails(["send", str(files["bad"])], 2, capsys)
    assert line.endswith("not sent: fix it, or --force sends it anyway")


def test_an_expression_error_names_its_position(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(["expr", "@add(1"], 2, capsys)
    assert "at position 6" in line and line.count("position") == 1, "the position is said once"


def test_an_unknown_function_suggests_the_nearest_and_says_its_position_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = fails(["expr", "@concat('a', substrng('abc', 1))"], 2, capsys)
    assert "unknown function 'substrng' at position 13 (did you mean 'substring'?)" in line
    assert line.count("position") == 1
    assert "did you mean" not in fails(["expr", "@frobnicate(1)"], 2, capsys)


def test_a_pipeline_parameter_nobody_passed_is_a_runtime_note_naming_param(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "p.json"
    activity = {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "LocalPipelines", "type": "LinkedServiceReference"},
        "typeProperties": {
            "mlPipelineId": "loan_scoring",
            "mlPipelineParameters": {"x": "@pipeline().parameters.region"},
        },
    }
    payload.write_text(json.dumps(activity))
    assert main(["validate", str(payload), "--linked-services", str(EXAMPLES / "linked_services.json")]) == 0
    out = capsys.readouterr().out
    assert "pipeline parameter 'region' is not given here" in out and "--param region=VALUE" in out
    assert "available properties are ''" not in out


def test_a_bad_setting_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AMLEXEC_POLL_MAX_SECONDS", "abc")
    line = fails(["schema"], 1, capsys)
    assert line.startswith("amlexec: error: configuration error: AMLEXEC_POLL_MAX_SECONDS must be")
    assert "(environment)" in line


# ------------------------------------------------------------------------------ runs against Azure ML


class NoSignIn:
    """DefaultAzureCredential on a machine with no Azure sign-in: it logs its multi-line report, then raises."""

    REPORT = (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
        "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.\n"
        "\tAzureCliCredential: Azure CLI not found on path"
    )

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        logging.getLogger("azure.identity._credentials.chained").warning(self.REPORT)
        raise ClientAuthenticationError(self.REPORT.splitlines()[0])

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        return self.get_token(*scopes)

    def close(self) -> None:
        return None


@pytest.fixture
def azure_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[list[str], World]]:
    """``amlexec run`` arguments for a published pipeline in the fake workspace, with the worker wired to it."""
    for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    payload, services = tmp_path / "payload.json", tmp_path / "ls.json"
    payload.write_text(json.dumps(AZURE_PAYLOAD))
    services.write_text(json.dumps(LINKED_SERVICES))

    def wire(*, real_credential: bool = False, clock: ManualClock | None = None) -> tuple[list[str], World]:
        world = make_world()
        create = Worker.create.__func__  # type: ignore[attr-defined]

        def create_wired(cls: type[Worker], /, settings: Settings, **kwargs: Any) -> Worker:
            # The CLI's own registry, the SDK's real requests, the fake workspace's answers.
            connector = WorkspaceConnector(
                kwargs["registry"],
                transport=world.transport,
                credential_for=None if real_credential else lambda _: world.credential,
            )
            return create(cls, settings, connector=connector, clock=clock, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(Worker, "create", classmethod(create_wired))
        return ["run", str(payload), "--linked-services", str(services), "--request-id", "req-1"], world

    return wire


def refuse_everything(world: World, status: int, **kwargs: Any) -> None:
    """Answer every request the SDK sends with ``status``, whichever call the launcher makes first."""
    for method in ("GET", "POST", "PUT", "DELETE"):
        world.router.fail(method, r"", status=status, times=100_000, **kwargs)


def test_run_without_azure_credentials_says_how_to_sign_in(
    azure_run: Callable[..., tuple[list[str], World]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The linked service's own credential path (registry -> azure-identity), with the credential failing as
    # DefaultAzureCredential does off Azure: before the fix, its report and an AccessDenied traceback.
    monkeypatch.setattr("amlexec.linked_services._build_credential", lambda spec: NoSignIn())
    argv, world = azure_run(real_credential=True)
    line = fails(argv, 1, capsys)
    assert line == (
        "amlexec: error: no Azure credential could get a token (linked service 'AzureMLService', "
        f"workspace '{WS}'); sign in with 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
        "AZURE_CLIENT_SECRET (--verbose shows why each credential failed)"
    )
    assert world.router.calls == [], "no token, no request"
    assert main([*argv, "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Attempted credentials:" in err and "Traceback" not in err
    assert err.splitlines()[-1] == line


def test_run_refused_with_403_names_the_role_to_grant(
    azure_run: Callable[..., tuple[list[str], World]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, world = azure_run()
    refuse_everything(
        world,
        403,
        body={
            "error": {
                "code": "AuthorizationFailed",
                "message": "The client does not have authorization to perform action 'workspaces/jobs/read'",
            }
        },
    )
    line = fails(argv, 1, capsys)
    assert line.startswith("amlexec: error: access denied: ")
    assert "403 forbidden (" in line and "AuthorizationFailed" in line
    assert line.endswith(
        f"(linked service 'AzureMLService', workspace '{WS}'); grant the identity you signed "
        f"in with the 'AzureML Data Scientist' role on workspace '{WS}'"
    )


def test_run_when_the_service_is_unavailable_says_to_retry_with_the_same_id(
    azure_run: Callable[..., tuple[list[str], World]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, world = azure_run(clock=ManualClock())
    refuse_everything(world, 503)
    line = fails(argv, 75, capsys)
    # Whether the host gives up at once or after redelivering as Service Bus would, the advice is the same.
    assert f"try again later: 'amlexec run {argv[1]} --request-id req-1' is safe to repeat" in line
    assert main([*argv, "--verbose"]) == 75
    assert "service answered 503" in capsys.readouterr().err


def test_a_rejection_for_access_is_reported_by_its_cause(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A host that settles a permanent launch failure as a rejection sends one issue with the error's code.
    code = getattr(AccessDenied, "code", None)
    if code is None:
        pytest.skip("errors carry no code in this version")
    from amlexec.launch.failures import ROLE_HINT

    issue = Issue("$", f"look up run r: 403 forbidden (denied); {ROLE_HINT}", code=code)
    rejected = {"type": "com.amlexec.run.rejected", "data": {"issues": [issue.to_dict()]}}
    monkeypatch.setattr(InProcessHost, "run_until_idle", lambda self, **kw: [rejected])
    line = fails(
        [
            "run",
            str(EXAMPLES / "payloads" / "loan_scoring.json"),
            "--linked-services",
            str(EXAMPLES / "linked_services.json"),
        ],
        1,
        capsys,
    )
    assert "access denied: look up run r: 403 forbidden (denied)" in line and "'AzureML Data Scientist'" in line


# ------------------------------------------------------------------------------------ local run outcomes

BROKEN_PIPELINE = """\
type: pipeline
display_name: broken
jobs:
  fail:
    type: command
    command: echo failing; exit 3
    environment:
      image: python:3.11-slim
"""


def test_a_run_that_fails_exits_3_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "broken.yml").write_text(BROKEN_PIPELINE)
    services = tmp_path / "ls.json"
    services.write_text(
        json.dumps(
            [
                {
                    "name": "Local",
                    "properties": {"type": "AmlexecLocal", "typeProperties": {"pipelinesFolder": "pipelines"}},
                }
            ]
        )
    )
    payload = tmp_path / "payload.json"
    payload.write_text(
        json.dumps(
            {
                "name": "broken",
                "type": "AzureMLExecutePipeline",
                "linkedServiceName": {"referenceName": "Local", "type": "LinkedServiceReference"},
                "typeProperties": {"mlPipelineId": "broken", "experimentName": "x"},
            }
        )
    )
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("AMLEXEC_POLL_INITIAL_SECONDS", "0.2")
    monkeypatch.setenv("AMLEXEC_POLL_MAX_SECONDS", "1")
    line = fails(["run", str(payload), "--linked-services", str(services)], 3, capsys)
    assert " failed: StepFailed: step 'fail' exited with code 3:\\nfailing (" in line
    assert "; see file://" in line


def test_a_run_left_unfinished_says_how_to_follow_it_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = {"type": "com.amlexec.run.started", "data": {}}
    monkeypatch.setattr(InProcessHost, "run_until_idle", lambda self, **kw: [started])
    payload = str(EXAMPLES / "payloads" / "loan_scoring.json")
    line = fails(
        ["run", payload, "--linked-services", str(EXAMPLES / "linked_services.json"), "--request-id", "req-5"],
        3,
        capsys,
    )
    assert line.endswith(f"'amlexec run {payload} --request-id req-5' follows it again")


def test_ctrl_c_during_a_run_exits_130_and_names_the_request_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: InProcessHost, **kwargs: Any) -> list[dict[str, Any]]:
        raise KeyboardInterrupt

    monkeypatch.setattr(InProcessHost, "run_until_idle", interrupted)
    line = fails(
        [
            "run",
            str(EXAMPLES / "payloads" / "loan_scoring.json"),
            "--linked-services",
            str(EXAMPLES / "linked_services.json"),
        ],
        130,
        capsys,
    )
    assert line.startswith("amlexec: error: interrupted (")
    assert "a run already launched keeps going: 'amlexec run " in line and "--request-id cli-" in line


# ------------------------------------------------------------------------- whatever else goes wrong


def raising(error: BaseException) -> Callable[..., int]:
    def handler(args: Any, settings: Any) -> int:
        raise error

    return handler


def test_a_transient_failure_exits_75(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_cmd_schema", raising(TransientError("service answered 503", retry_after=30)))
    line = fails(["schema"], 75, capsys)
    assert line == "amlexec: error: service answered 503 (amlexec schema); try again later (the service asked for 30s)"


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_cmd_schema", raising(KeyboardInterrupt()))
    assert fails(["schema"], 130, capsys) == "amlexec: error: interrupted (amlexec schema); nothing more was done"


def test_a_bug_is_one_line_and_the_traceback_needs_verbose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_cmd_schema", raising(ZeroDivisionError("boom\nsecond line")))
    line = fails(["schema"], 70, capsys)
    assert line.startswith("amlexec: error: internal error: ZeroDivisionError: boom\\nsecond line (amlexec schema)")
    assert "--verbose" in line
    assert main(["schema", "--verbose"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1] == line


def test_secrets_in_a_message_are_masked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    error = PermanentError("cannot open Endpoint=sb://ns/;SharedAccessKeyName=send;SharedAccessKey=s3cr3t+/=")
    monkeypatch.setattr(cli, "_cmd_schema", raising(error))
    line = fails(["schema"], 1, capsys)
    assert "s3cr3t" not in line and "SharedAccessKey=***" in line


def test_a_closed_stdout_exits_141_silently(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["schema"]) == 141
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------ as a separate process

# The launch without a sign-in, in a process of its own: only there does logging's last-resort handler print
# the SDK's report to the terminal. The credential is replaced at its source; no request leaves the machine.
NO_SIGN_IN_SCRIPT = """
import logging, sys
from azure.core.exceptions import ClientAuthenticationError
import amlexec.linked_services

class NoSignIn:
    def get_token(self, *scopes, **kwargs):
        logging.getLogger("azure.identity._credentials.chained").warning(
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\\n"
            "Attempted credentials:\\n\\tAzureCliCredential: Azure CLI not found on path")
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")
    get_token_info = get_token
    def close(self):
        pass

amlexec.linked_services._build_credential = lambda spec: NoSignIn()
from amlexec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_process(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT") and not k.startswith(("AZURE_", "AMLEXEC_"))
    }
    env.update(
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        AMLEXEC_LOCAL_RUNS_DIR=str(cwd / "runs"),
    )
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_process_missing_file(tmp_path: Path) -> None:
    result = run_process(
        ["-m", "amlexec", "resolve", "nope.json", "--linked-services", str(EXAMPLES / "linked_services.json")], tmp_path
    )
    assert result.returncode == 66
    assert one_line(result.stderr).startswith("amlexec: error: cannot read payload: No such file or directory")


def test_process_run_without_sign_in_prints_one_line_and_no_sdk_report(tmp_path: Path) -> None:
    (tmp_path / "payload.json").write_text(json.dumps(AZURE_PAYLOAD))
    (tmp_path / "ls.json").write_text(json.dumps(LINKED_SERVICES))
    argv = ["-c", NO_SIGN_IN_SCRIPT, "run", "payload.json", "--linked-services", "ls.json"]
    result = run_process(argv, tmp_path)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("amlexec: error: no Azure credential could get a token")
    verbose = run_process([*argv, "--verbose"], tmp_path)
    assert verbose.returncode == 1
    assert "Attempted credentials:" in verbose.stderr and "Traceback" not in verbose.stderr


def test_process_with_stdout_closed_early_exits_141_without_a_word(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "amlexec", "expr", "@range(1, 100000)"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the first byte, as with `| head -0`
        err = process.stderr.read()
        assert process.wait(timeout=60) == 141
    assert err == b""
