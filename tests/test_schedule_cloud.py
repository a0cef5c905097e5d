"""The cloud schedules in deploy/schedule: the Cloud Scheduler job and the Cloud Composer (Airflow) DAG.

Both launch the ingest Flex Template. Nothing here reaches Google Cloud, and
Airflow is too heavy to install, so: the Scheduler job is checked as the REST
resource it is (YAML), its body as the Dataflow API's own LaunchFlexTemplateRequest
message, and create-scheduler-job.sh is run with a recording stand-in for gcloud
(acceptable only because gcloud cannot reach Google Cloud here). The DAG file is
read with ``ast``, never imported; its Jinja strings are rendered with jinja2 for a
sample logical date. The parameters of every launch must be declared by the
template's metadata, pass its regexes, parse with newsbeam's own parser, and build
the batch job in the DataflowRunner's offline dry run.
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import json
import re
import zoneinfo
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from google.cloud.dataflow_v1beta3 import LaunchFlexTemplateRequest
from google.protobuf import json_format
from test_flex_template import (
    IMAGE,
    NetworkGuard,
    ScriptRun,
    as_launch_args,
    assert_valid_launch,
    gcloud_problems,
    job_type,
    launch,
    needs_cloud_sdk,
    parse_launch,
    run_script,
    uses_image,
)

from pipeline import settings, template

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = ROOT / "deploy" / "schedule"
SCHEDULER_YAML = SCHEDULE / "newsbeam-ingest.scheduler.yaml"
LAUNCH_BODY = SCHEDULE / "launch-body.json"
CREATE_SCRIPT = SCHEDULE / "create-scheduler-job.sh"
DAG_FILE = SCHEDULE / "newsbeam_ingest_dag.py"
OPERATOR_MODULE = "airflow.providers.google.cloud.operators.dataflow"
LAUNCH_URI = "https://dataflow.googleapis.com/v1b3/projects/${PROJECT}/locations/${REGION}/flexTemplates:launch"
SAMPLE_DS = "2026-11-28"
#: Values for the ${NAME} placeholders, as create-scheduler-job.sh takes them from its environment.
SAMPLE = {
    "PROJECT": "my-project",
    "REGION": "europe-west1",
    "BUCKET": "my-bucket",
    "IMAGE": IMAGE,
    "INPUT": "gs://my-bucket/feeds/feeds.opml",
    "CONTACT_URL": "mailto:newsdesk@site.example",
    "SCHEDULER_SERVICE_ACCOUNT": "newsbeam-scheduler@my-project.iam.gserviceaccount.com",
    "WORKER_SERVICE_ACCOUNT": "newsbeam-worker@my-project.iam.gserviceaccount.com",
}
#: Airflow Variables (var.value.*) the DAG reads, with sample values.
SAMPLE_VARIABLES = {
    "newsbeam_project": "my-project",
    "newsbeam_region": "europe-west1",
    "newsbeam_bucket": "my-bucket",
    "newsbeam_image": IMAGE,
    "newsbeam_input": "gs://my-bucket/feeds/feeds.opml",
    "newsbeam_contact_url": "mailto:newsdesk@site.example",
    "newsbeam_worker_service_account": "newsbeam-worker@my-project.iam.gserviceaccount.com",
}


def fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, text
    return text


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    return yaml.safe_load(SCHEDULER_YAML.read_text(encoding="utf-8"))


def launch_body() -> dict[str, Any]:
    return json.loads(fill(LAUNCH_BODY.read_text(encoding="utf-8"), SAMPLE))


def as_request(body: dict[str, Any]) -> Any:
    """The body parsed into the Dataflow API's LaunchFlexTemplateRequest: an unknown or misspelt field fails."""
    return json_format.ParseDict(body, LaunchFlexTemplateRequest.pb()(), ignore_unknown_fields=False)


def launcher_args(body: dict[str, Any], project: str, region: str) -> list[str]:
    """What the launcher adds to the parameters for this request (project, region, locations), plus the dry run."""
    environment = body["launchParameter"]["environment"]
    return [
        f"--project={project}",
        f"--region={region}",
        f"--temp_location={environment['tempLocation']}",
        f"--staging_location={environment['stagingLocation']}",
        f"--job_name={body['launchParameter']['jobName']}",
        "--dry_run=True",
    ]


# --------------------------------------------------------------------------- Cloud Scheduler


def test_scheduler_job_targets_the_flex_template_launch(job: dict[str, Any]) -> None:
    assert job["name"] == "projects/${PROJECT}/locations/${REGION}/jobs/newsbeam-nightly-ingest"
    target = job["httpTarget"]
    assert target["uri"] == LAUNCH_URI
    assert target["httpMethod"] == "POST"
    assert target["headers"] == {"Content-Type": "application/json"}
    assert target["oauthToken"] == {
        "serviceAccountEmail": "${SCHEDULER_SERVICE_ACCOUNT}",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
    }
    assert "oidcToken" not in target  # Google APIs take OAuth access tokens, not OIDC identity tokens


def test_scheduler_runs_nightly_when_the_systemd_timer_does(job: dict[str, Any]) -> None:
    minute, hour, *every = job["schedule"].split()
    assert every == ["*", "*", "*"]
    zoneinfo.ZoneInfo(job["timeZone"])
    assert job["timeZone"] in ("Etc/UTC", "UTC")
    timer = (SCHEDULE / "newsbeam-ingest.timer").read_text(encoding="utf-8")
    assert f"OnCalendar=*-*-* {int(hour):02d}:{int(minute):02d}:00 UTC" in timer
    assert re.fullmatch(r"[0-9]+s", job["attemptDeadline"]) and job["retryConfig"]["retryCount"] >= 1


def test_yaml_body_is_the_launch_body_file(job: dict[str, Any]) -> None:
    """httpTarget.body is bytes (base64) in the REST resource: it decodes to launch-body.json."""
    decoded = json.loads(base64.b64decode(job["httpTarget"]["body"], validate=True))
    assert decoded == json.loads(LAUNCH_BODY.read_text(encoding="utf-8"))


def test_launch_body_is_a_launch_flex_template_request() -> None:
    body = launch_body()
    request = as_request(body)
    parameter = request.launch_parameter
    assert parameter.container_spec_gcs_path == "gs://my-bucket/templates/newsbeam-ingest.json"
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", parameter.job_name)
    assert parameter.environment.temp_location.startswith("gs://") and parameter.environment.service_account_email
    assert all(isinstance(value, str) for value in body["launchParameter"]["parameters"].values())


def test_scheduled_parameters_are_declared_and_valid() -> None:
    assert_valid_launch("ingest", launch_body()["launchParameter"]["parameters"])


def test_scheduled_parameters_parse_as_a_nightly_ingest() -> None:
    parameters = launch_body()["launchParameter"]["parameters"]
    command, rest, options = parse_launch(parameters)
    assert command == "ingest"
    assert (
        options.date == "yesterday" and options.output == "gs://my-bucket/lake" and options.inputs == [SAMPLE["INPUT"]]
    )
    today = dt.date(2026, 11, 29)
    assert (
        settings.publication_days(options.date, options.since, options.until, today)
        == (today - dt.timedelta(days=1),) * 2
    )
    assert "--runner=DataflowRunner" in rest and "--detach" in rest


def test_create_script_creates_the_yaml_job(job: dict[str, Any], tmp_path: Path) -> None:
    run = run_script(CREATE_SCRIPT, SAMPLE, tmp_path)
    assert run.code == 0, run.stderr
    (call,) = run.calls
    argv = call["argv"]
    expected = json.loads(fill(json.dumps(job), SAMPLE))
    assert argv[:5] == ["scheduler", "jobs", "create", "http", expected["name"].rsplit("/", 1)[1]]
    flags = flag_pairs(argv[5:])
    target, retry = expected["httpTarget"], expected["retryConfig"]
    assert flags == {
        "--project": SAMPLE["PROJECT"],
        "--location": expected["name"].split("/")[3],
        "--description": expected["description"],
        "--schedule": expected["schedule"],
        "--time-zone": expected["timeZone"],
        "--uri": target["uri"],
        "--http-method": target["httpMethod"].lower(),
        "--headers": ",".join(f"{k}={v}" for k, v in target["headers"].items()),
        "--message-body-from-file": flags["--message-body-from-file"],
        "--oauth-service-account-email": target["oauthToken"]["serviceAccountEmail"],
        "--oauth-token-scope": target["oauthToken"]["scope"],
        "--attempt-deadline": expected["attemptDeadline"],
        "--max-retry-attempts": str(retry["retryCount"]),
        "--min-backoff": retry["minBackoffDuration"],
        "--max-backoff": retry["maxBackoffDuration"],
        "--max-doublings": str(retry["maxDoublings"]),
    }
    sent = json.loads(call["files"][flags["--message-body-from-file"]])
    assert sent == launch_body() == json.loads(fill(base64.b64decode(job["httpTarget"]["body"]).decode(), SAMPLE))


def flag_pairs(words: list[str]) -> dict[str, str]:
    assert len(words) % 2 == 0 and all(w.startswith("--") for w in words[::2]), words
    return dict(zip(words[::2], words[1::2], strict=True))


def test_create_script_keeps_values_literal(tmp_path: Path) -> None:
    """Shell-special characters in a value reach the body unchanged (bash 5.2 treats '&' in a replacement specially)."""
    feed = "https://site.example/feed?a=1&b=2|x"
    run = run_script(CREATE_SCRIPT, {**SAMPLE, "INPUT": feed}, tmp_path)
    assert run.code == 0, run.stderr
    body = json.loads(next(iter(run.calls[0]["files"].values())))
    assert body["launchParameter"]["parameters"]["input"] == feed
    quoted = run_script(CREATE_SCRIPT, {**SAMPLE, "INPUT": 'gs://my-bucket/"x"'}, tmp_path)
    assert quoted.code != 0 and "INPUT must not contain a double quote" in quoted.stderr and quoted.calls == []


def test_create_script_checks_its_variables(tmp_path: Path) -> None:
    from test_flex_template import documented_required, required_variables

    required = required_variables(CREATE_SCRIPT)
    assert set(required) == set(SAMPLE) == documented_required(CREATE_SCRIPT)
    for variable, message in required.items():
        run: ScriptRun = run_script(CREATE_SCRIPT, {k: v for k, v in SAMPLE.items() if k != variable}, tmp_path)
        assert run.code != 0 and f"{variable}: {message}" in run.stderr and run.calls == []


def test_create_script_shellcheck() -> None:
    from test_flex_template import test_shellcheck

    test_shellcheck(CREATE_SCRIPT)


@needs_cloud_sdk
@pytest.mark.slow
def test_installed_gcloud_knows_the_scheduler_command(tmp_path: Path) -> None:
    run = run_script(CREATE_SCRIPT, SAMPLE, tmp_path)
    assert run.code == 0 and gcloud_problems(run.calls[0]["argv"]) == []


# --------------------------------------------------------------------------- the Airflow DAG


@pytest.fixture(scope="module")
def dag_tree() -> ast.Module:
    return ast.parse(DAG_FILE.read_text(encoding="utf-8"), filename=str(DAG_FILE))


def call_named(tree: ast.Module, name: str) -> ast.Call:
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, (ast.Name, ast.Attribute))
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == name
    ]
    assert len(calls) == 1, f"{name}: {len(calls)} calls"
    return calls[0]


def keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def imported(tree: ast.Module) -> dict[str, str]:
    return {
        alias.asname or alias.name: node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_dag_uses_the_google_providers_flex_template_operator(dag_tree: ast.Module) -> None:
    names = imported(dag_tree)
    assert names["DataflowStartFlexTemplateOperator"] == OPERATOR_MODULE
    assert names["DAG"] == "airflow"
    assert names["CronDataIntervalTimetable"] == "airflow.timetables.interval"
    operator = keywords(call_named(dag_tree, "DataflowStartFlexTemplateOperator"))
    assert ast.literal_eval(operator["wait_until_finished"]) is True  # a failed job fails the task, which retries


def test_dag_runs_daily_with_catchup(dag_tree: ast.Module) -> None:
    dag = keywords(call_named(dag_tree, "DAG"))
    assert ast.literal_eval(dag["catchup"]) is True
    assert ast.literal_eval(dag["max_active_runs"]) == 1
    timetable = dag["schedule"]
    assert isinstance(timetable, ast.Call) and ast.unparse(timetable.func) == "CronDataIntervalTimetable"
    cron = ast.literal_eval(timetable.args[0])
    assert cron.split()[2:] == ["*", "*", "*"]  # every day
    assert ast.literal_eval(keywords(timetable)["timezone"]) == "UTC"
    start = dag["start_date"]
    assert isinstance(start, ast.Call) and ast.unparse(start.func) == "pendulum.datetime"
    assert dt.date(*[ast.literal_eval(a) for a in start.args]) <= dt.date(2026, 11, 28)
    assert ast.literal_eval(keywords(start)["tz"]) == "UTC"
    default_args = dag["default_args"]
    assert isinstance(default_args, ast.Dict)
    retries = next(
        v
        for k, v in zip(default_args.keys, default_args.values, strict=True)
        if k is not None and ast.literal_eval(k) == "retries"
    )
    assert ast.literal_eval(retries) >= 1


def render(value: Any, ds: str) -> Any:
    """Airflow's rendering of a templated field for logical date ``ds``: strict, every name must exist."""
    if isinstance(value, dict):
        return {k: render(v, ds) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, ds) for v in value]
    if not isinstance(value, str):
        return value
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    context = {"ds": ds, "ds_nodash": ds.replace("-", ""), "var": {"value": SAMPLE_VARIABLES}}
    return environment.from_string(value).render(**context)


@pytest.fixture(scope="module")
def dag_launch(dag_tree: ast.Module) -> dict[str, Any]:
    """The operator's templated fields (body, project_id, location) rendered for the sample logical date."""
    operator = keywords(call_named(dag_tree, "DataflowStartFlexTemplateOperator"))
    return {name: render(ast.literal_eval(operator[name]), SAMPLE_DS) for name in ("body", "project_id", "location")}


def test_dag_body_is_a_launch_flex_template_request(dag_launch: dict[str, Any]) -> None:
    request = as_request(dag_launch["body"])
    assert request.launch_parameter.container_spec_gcs_path == "gs://my-bucket/templates/newsbeam-ingest.json"
    assert request.launch_parameter.job_name == "newsbeam-ingest-20261128"
    assert (dag_launch["project_id"], dag_launch["location"]) == ("my-project", "europe-west1")


def test_dag_parameters_are_declared_valid_and_ingest_the_logical_date(dag_launch: dict[str, Any]) -> None:
    parameters = dag_launch["body"]["launchParameter"]["parameters"]
    assert parameters["date"] == SAMPLE_DS
    assert_valid_launch("ingest", parameters)
    command, rest, options = parse_launch(parameters)
    assert command == "ingest" and options.date == SAMPLE_DS
    day = dt.date.fromisoformat(SAMPLE_DS)
    assert settings.publication_days(options.date, options.since, options.until, dt.date(2026, 12, 25)) == (day, day)


def test_dag_and_scheduler_launch_the_same_job(dag_launch: dict[str, Any]) -> None:
    """Same template, same parameters and environment but the day: the two schedules cannot drift apart."""
    scheduled = launch_body()["launchParameter"]
    dag = dag_launch["body"]["launchParameter"]
    assert dag["containerSpecGcsPath"] == scheduled["containerSpecGcsPath"]
    assert {**dag["parameters"], "date": "yesterday"} == scheduled["parameters"]
    unlabelled = [
        {k: v for k, v in e.items() if k != "additionalUserLabels"}
        for e in (dag["environment"], scheduled["environment"])
    ]
    assert unlabelled[0] == unlabelled[1]


def test_dag_variables_are_documented(dag_tree: ast.Module) -> None:
    variables = set(re.findall(r"var\.value\.([a-z_]+)", DAG_FILE.read_text(encoding="utf-8")))
    assert variables == set(SAMPLE_VARIABLES)
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    assert [v for v in sorted(variables) if f"`{v}`" not in readme] == []


def test_rendering_is_strict() -> None:
    """The rendering above can fail: an Airflow Variable the sample does not define is an error, not an empty string."""
    with pytest.raises(jinja2.UndefinedError):
        render("{{ var.value.newsbeam_unknown }}", SAMPLE_DS)


# --------------------------------------------------------------------------- both launches, built


@pytest.fixture(scope="module")
def launches(dag_launch: dict[str, Any]) -> dict[str, Any]:
    """The Scheduler's and the DAG's launch run through the template entry against the offline Dataflow dry run."""
    bodies = {
        "scheduler": (launch_body(), SAMPLE["PROJECT"], SAMPLE["REGION"]),
        "dag": (dag_launch["body"], dag_launch["project_id"], dag_launch["location"]),
    }
    guard = NetworkGuard()
    found: dict[str, Any] = {"guard": guard}
    with guard.active():
        for name, (body, project, region) in bodies.items():
            argv = as_launch_args(body["launchParameter"]["parameters"]) + launcher_args(body, project, region)
            found[name] = launch(template.main, argv)
    return found


@pytest.mark.parametrize("source", ["scheduler", "dag"])
@pytest.mark.slow
def test_scheduled_launch_builds_the_batch_job(launches: dict[str, Any], source: str) -> None:
    run = launches[source]
    assert run.code == 0, run.stderr
    assert [job_type(r) for r in run.results] == ["JOB_TYPE_BATCH"]
    assert uses_image(run.results[0], IMAGE)
    assert run.waits == 0 and "submitted; output → gs://my-bucket/lake" in run.stdout
    assert launches["guard"].attempts == []
