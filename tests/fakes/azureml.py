"""A fake Azure ML workspace at the REST boundary: ARM/MFE resources, jobs, batch endpoints, v1 pipelines.

Resources are stored as the SDK PUTs them and returned with the fields the service adds (id, name,
systemData, status). Tests seed published pipelines, endpoints and batch endpoints directly.

Job names are final, as in Azure ML: a PUT on an existing job name is an update that may change only the
description, tags, display name, properties or archive flag; anything else is refused with the service's
``UserError`` "A job with this name already exists". Whether the service also refuses a PUT that changes
nothing is not documented, so ``existing_job_put="refuse"`` models the stricter answer; amlexec must be
right under both. Every create the service processes is counted per run name in ``creates`` (v2 job PUTs,
batch invocations, v1 submits by their ``amlexec.runName`` property), so a test can tell "found the run"
from "created it again and the service shrugged".
"""

from __future__ import annotations

import copy
import itertools
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from fakes.transport import Call, Reply, Router

WS = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)


def _job_input(batch_input: dict[str, Any]) -> dict[str, Any]:
    """How a batch invocation's input shows up on the job it creates."""
    if batch_input.get("jobInputType") == "Literal":
        return {"jobInputType": "literal", "value": str(batch_input.get("value"))}
    return {"jobInputType": "uri_folder", "uri": batch_input.get("uri")}


# What a PUT on an existing job may change (reference: Azure ML jobs REST API, "job names are final").
MUTABLE_JOB_FIELDS = frozenset({"description", "tags", "displayName", "properties", "isArchived"})
# Fields the service owns; a client echoing them back is not changing anything.
_SERVER_JOB_FIELDS = frozenset({"status", "services"})
RUN_NAME_KEY = "amlexec.runName"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_BASE_TIME = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class FakeAzureML:
    """State of one fake workspace and the routes that serve it."""

    def __init__(
        self,
        router: Router,
        *,
        region: str = "westeurope",
        host: str | None = None,
        existing_job_put: str = "update",
        v1_runs_in_jobs_list: bool = True,
        run_history_query: bool = True,
    ) -> None:
        if existing_job_put not in ("update", "refuse"):
            raise ValueError(f"existing_job_put must be 'update' or 'refuse', got {existing_job_put!r}")
        self.router = router
        self.existing_job_put = existing_job_put
        # Whether v1 (PipelineSubmit) runs show up in the v2 jobs list, and whether run history answers
        # property queries: neither is documented for PipelineSubmit's properties, so tests try each off.
        self.v1_runs_in_jobs_list = v1_runs_in_jobs_list
        self.run_history_query = run_history_query
        self.created_order = itertools.count(1)
        self.v1_run_ids: set[str] = set()
        self.history_page_size = 100
        # Called with the run name before a v1 submit or v2 create is processed: lets a test run another
        # instance's delivery "at the same time" (between this one's look-up and its create).
        self.before_create: Callable[[str], None] | None = None
        # run name -> create requests the service processed (whether they created a run or were refused)
        self.creates: Counter[str] = Counter()
        self.region = region
        # One base URL for every service (discovery, v1 API, batch scoring) when serving over loopback.
        self.host = host
        self.resources: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.v1_submits: list[Call] = []
        self.counter = itertools.count(1)
        self.workspace_id = str(uuid.UUID(int=7))
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.scoring_hosts: dict[str, tuple[str, str]] = {}
        self.v1_pipelines: dict[str, dict[str, Any]] = {}
        self.v1_graphs: dict[str, dict[str, Any]] = {}
        self.v1_endpoints: dict[str, dict[str, Any]] = {}
        self.run_records: dict[str, dict[str, Any]] = {}
        self.batch_invocations: list[Call] = []
        self._register()

    # ---- generic ARM resource store
    def _put(self, call: Call, **_: str) -> Reply:
        body = copy.deepcopy(call.body) or {}
        body.setdefault("properties", {})
        body["id"] = call.path
        body["name"] = call.path.rstrip("/").split("/")[-1]
        body["systemData"] = {"createdAt": _now(), "createdBy": "tests", "lastModifiedAt": _now()}
        self.resources[call.path.lower()] = body
        return Reply(200, body)

    def _get(self, call: Call, **_: str) -> Reply:
        found = self.resources.get(call.path.lower())
        if found is None:
            return Reply(404, {"error": {"code": "UserError", "message": f"Not found: {call.path}"}})
        return Reply(200, found)

    def _list(self, call: Call, **_: str) -> Reply:
        prefix = call.path.lower().rstrip("/") + "/"
        items = [v for k, v in self.resources.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]]
        return Reply(200, {"value": items})

    def _register(self) -> None:
        add = self.router.add
        for kind in ("components", "batchEndpoints", "datastores", "environments", "data"):
            add("PUT", WS + rf"/{kind}/[^/]+(/versions/[^/]+)?", self._put)
            add("GET", WS + rf"/{kind}/[^/]+(/versions/[^/]+)?", self._get)
            add("GET", WS + rf"/{kind}(/[^/]+/versions)?", self._list)
        add("GET", WS + r"/batchEndpoints/[^/]+/deployments(/[^/]+)?", self._get_or_list)
        add("GET", WS, self._get_workspace)
        v1 = r"/pipelines/v1\.0" + WS
        add("GET", v1 + r"/Pipelines/(?P<pid>[^/]+)", self._v1_pipeline)
        add("GET", v1 + r"/Graphs/(?P<gid>[^/]+)/Interface", self._v1_interface)
        add("GET", v1 + r"/PipelineEndpoints/Id/(?P<eid>[^/]+)", self._v1_endpoint)
        add("POST", v1 + r"/PipelineRuns/PipelineSubmit/(?P<pid>[^/]+)", self._v1_submit)
        add(
            "POST",
            v1 + r"/PipelineRuns/PipelineEndpointSubmit/Id/(?P<eid>[^/]+)(?:/(?P<version>[^/]+))?",
            self._v1_endpoint_submit,
        )
        add("POST", r"/jobs", self._invoke_batch)
        add("POST", r"/inference/(?P<endpoint>[^/]+)/jobs", self._invoke_batch)
        add("GET", r"/discovery", self._discovery)
        add("POST", r"/history/v1\.0" + WS + r"/experiments/(?P<experiment>[^/]+)/runs:query", self._query_runs)
        add("GET", r"/history/v1\.0" + WS + r"/runs/(?P<name>[^/]+)/children", self._children)
        add("GET", r"/history/v1\.0" + WS + r"/runs/(?P<name>[^/]+)", self._run_record)
        add(
            "PATCH",
            r"/history/v1\.0" + WS + r"/experiments/(?P<experiment>[^/]+)/runs/(?P<name>[^/]+)",
            self._update_run,
        )
        add(
            "POST",
            r"/history/v1\.0" + WS + r"/experiment(?P<by>ids|s)/(?P<experiment>[^/]+)/runs/(?P<name>[^/]+)/cancel",
            self._cancel_run,
        )
        add("PUT", WS + r"/jobs/(?P<name>[^/]+)", self._put_job)
        add("GET", WS + r"/jobs/(?P<name>[^/]+)", self._get_job)
        add("GET", WS + r"/jobs", self._list_jobs)
        add("POST", WS + r"/jobs/(?P<name>[^/]+)/cancel", self._cancel_job)

    def _created_at(self) -> str:
        """Strictly increasing creation times, a millisecond apart: run order is creation order."""
        return (_BASE_TIME + timedelta(milliseconds=next(self.created_order))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # ---- workspace and discovery
    @property
    def api_host(self) -> str:
        return self.host or f"https://{self.region}.api.azureml.ms"

    def _get_workspace(self, call: Call, sub: str, rg: str, ws: str) -> Reply:
        return Reply(
            200,
            {
                "id": call.path,
                "name": ws,
                "type": "Microsoft.MachineLearningServices/workspaces",
                "location": self.region,
                "kind": "Default",
                "properties": {
                    "discoveryUrl": f"{self.api_host}/discovery",
                    "workspaceId": self.workspace_id,
                    "friendlyName": ws,
                    "provisioningState": "Succeeded",
                    "mlFlowTrackingUri": f"azureml://{self.region}.api.azureml.ms/mlflow/v1.0{call.path}",
                },
            },
        )

    def _discovery(self, call: Call) -> Reply:
        host = self.api_host
        return Reply(
            200,
            {
                "api": host,
                "catalog": host,
                "experimentation": host,
                "gallery": host,
                "history": host,
                "hyperdrive": host,
                "labeling": host,
                "modelmanagement": host,
                "pipelines": host,
                "studio": "https://ml.azure.com",
            },
        )

    # ---- jobs (MFE)
    def _job_id(self, sub: str, rg: str, ws: str, name: str) -> str:
        return (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
            f"/workspaces/{ws}/jobs/{name}"
        )

    def _before_create(self, name: str) -> None:
        hook, self.before_create = self.before_create, None  # once: the other instance's create is not hooked
        if hook is not None and name:
            hook(name)

    def _put_job(self, call: Call, sub: str, rg: str, ws: str, name: str) -> Reply:
        self._before_create(name)
        self.creates[name] += 1
        if name in self.jobs:
            existing = self.jobs[name]["properties"]
            sent = (call.body or {}).get("properties", {})
            changed = {k for k, v in sent.items() if k not in _SERVER_JOB_FIELDS and existing.get(k) != v}
            if self.existing_job_put == "update" and changed <= MUTABLE_JOB_FIELDS:
                for key in changed:
                    existing[key] = copy.deepcopy(sent[key])
                return Reply(200, self.jobs[name])
            return Reply(
                400,
                {
                    "error": {
                        "code": "UserError",
                        "message": f"A job with this name already exists: {name}",
                        "details": [
                            {
                                "code": "JobPropertyImmutable",
                                "message": f"cannot change {', '.join(sorted(changed - MUTABLE_JOB_FIELDS)) or name}",
                            }
                        ],
                    }
                },
            )
        body = copy.deepcopy(call.body)
        props = body.setdefault("properties", {})
        props["status"] = "NotStarted"
        props.setdefault("services", {})["Studio"] = {
            "endpoint": f"https://ml.azure.com/runs/{name}?wsid=/subscriptions/{sub}/resourcegroups/{rg}/workspaces/{ws}",
            "jobServiceType": "Studio",
        }
        body.update(
            {
                "id": self._job_id(sub, rg, ws, name),
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/jobs",
                "systemData": {"createdAt": _now(), "createdBy": "amlexec"},
            }
        )
        self.jobs[name] = body
        return Reply(201, body)

    def _get_job(self, call: Call, sub: str, rg: str, ws: str, name: str) -> Reply:
        job = self.jobs.get(name)
        if job is None:
            return Reply(404, {"error": {"code": "UserError", "message": f"Job {name} was not found"}})
        return Reply(200, job)

    def _list_jobs(self, call: Call, **_: str) -> Reply:
        jobs = [j for j in self.jobs.values() if self.v1_runs_in_jobs_list or j["name"] not in self.v1_run_ids]
        wanted: str | None = next(iter(call.query.get("properties") or []), None)
        if wanted:
            key, _sep, expected = wanted.partition("=")
            jobs = [j for j in jobs if j["properties"].get("properties", {}).get(key) == expected]
        return Reply(200, {"value": jobs})

    def _cancel_job(self, call: Call, sub: str, rg: str, ws: str, name: str) -> Reply:
        job = self.jobs.get(name)
        if job is None:
            return Reply(404, {"error": {"code": "UserError", "message": f"Job {name} was not found"}})
        if job["properties"]["status"] not in ("Completed", "Failed", "Canceled"):
            job["properties"]["status"] = "CancelRequested"
        return Reply(202, None)

    _FILTER = re.compile(r'^\(?Properties/(?P<key>[^ ]+) eq "(?P<value>[^"]*)"\)?$')

    def _query_runs(self, call: Call, sub: str, rg: str, ws: str, experiment: str) -> Reply:
        """Run history's runs:query: the property filter the v1 SDK's get_runs(properties=...) sends, paged."""
        if not self.run_history_query:
            return Reply(404, {"error": {"code": "UserError", "message": f"experiment {experiment} not found"}})
        body = call.body or {}
        match = self._FILTER.match(str(body.get("filter") or ""))
        if match is None:
            return Reply(400, {"error": {"code": "UserError", "message": f"unsupported filter {body.get('filter')!r}"}})
        runs = [
            job
            for job in self.jobs.values()
            if job["properties"].get("experimentName") == unquote(experiment)
            and job["properties"].get("properties", {}).get(match["key"]) == match["value"]
        ]
        if not runs:
            return (
                Reply(404, {"error": {"code": "UserError", "message": f"experiment {experiment} not found"}})
                if not any(j["properties"].get("experimentName") == unquote(experiment) for j in self.jobs.values())
                else Reply(200, {"value": [], "continuationToken": None})
            )
        start = int(body.get("continuationToken") or 0)
        top = min(int(body.get("top") or 100), self.history_page_size)
        page = runs[start : start + top]
        token = str(start + top) if start + top < len(runs) else None
        return Reply(
            200, {"value": [self._history_record(job) for job in page], "continuationToken": token, "nextLink": None}
        )

    def _history_record(self, job: dict[str, Any]) -> dict[str, Any]:
        props = job["properties"]
        return {
            "runId": job["name"],
            "status": props["status"],
            "runType": "azureml.PipelineRun",
            "experimentId": self.experiment_id(props.get("experimentName")),
            "createdUtc": job.get("systemData", {}).get("createdAt"),
            "properties": dict(props.get("properties") or {}),
            "tags": dict(props.get("tags") or {}),
            "hidden": False,
        }

    def _children(self, call: Call, sub: str, rg: str, ws: str, name: str) -> Reply:
        if name not in self.jobs:
            return Reply(404, {"error": {"code": "UserError", "message": f"Run {name} was not found"}})
        runs = []
        for step in self.steps.get(name, []):
            runs.append(
                {
                    "runId": step["name"],
                    "parentRunId": name,
                    "rootRunId": name,
                    "status": step["status"],
                    "displayName": step["name"],
                    "runType": "azureml.StepRun",
                    "properties": {},
                    "startTimeUtc": step.get("start"),
                    "endTimeUtc": step.get("end"),
                    "experimentId": "exp-id",
                    "tags": {},
                }
            )
        return Reply(200, {"value": runs})

    def _run_record(self, call: Call, sub: str, rg: str, ws: str, name: str) -> Reply:
        job = self.jobs.get(name)
        if job is None:
            return Reply(404, {"error": {"code": "UserError", "message": f"Run {name} was not found"}})
        props = job["properties"]
        record: dict[str, Any] = {
            "runId": name,
            "status": props["status"],
            "experimentId": self.experiment_id(props.get("experimentName")),
            "runType": "azureml.PipelineRun",
            "createdUtc": job.get("systemData", {}).get("createdAt"),
            "properties": dict(props.get("properties") or {}),
        }
        record.update(self.run_records.get(name, {}))
        return Reply(200, record)

    @staticmethod
    def experiment_id(experiment_name: Any) -> str:
        """Run history's id of an experiment: stable per name, as the service keeps it."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"experiment:{experiment_name}"))

    def _cancel_run(  # noqa: PLR0917 - the router passes the path's groups by position
        self, call: Call, sub: str, rg: str, ws: str, by: str, experiment: str, name: str
    ) -> Reply:
        """Run history's cancel, by experiment id or name: an unknown run, or one of another experiment, is 404;
        a run already final stays as it is; the answer is the run's record."""
        job = self.jobs.get(name)
        props = job["properties"] if job is not None else {}
        of = self.experiment_id(props.get("experimentName")) if by == "ids" else props.get("experimentName")
        if job is None or of != unquote(experiment):
            return Reply(404, {"error": {"code": "UserError", "message": f"Run {name} was not found"}})
        if props["status"] not in ("Completed", "Failed", "Canceled"):
            props["status"] = "CancelRequested"
        return self._run_record(call, sub, rg, ws, name)

    def _update_run(  # noqa: PLR0917 - the router passes the path's groups by position
        self, call: Call, sub: str, rg: str, ws: str, experiment: str, name: str
    ) -> Reply:
        """Run history's update of a run (azure-ai-ml's ``jobs.update``): tags and properties are merged into
        the run's; a property already set cannot change (the service keeps properties immutable)."""
        job = self.jobs.get(name)
        if job is None or job["properties"].get("experimentName") != unquote(experiment):
            return Reply(404, {"error": {"code": "UserError", "message": f"Run {name} was not found"}})
        body = call.body or {}
        props = job["properties"].setdefault("properties", {})
        sent = dict(body.get("properties") or {})
        if any(key in props and props[key] != value for key, value in sent.items()):
            return Reply(400, {"error": {"code": "UserError", "message": "run properties cannot be changed"}})
        props.update(sent)
        job["properties"].setdefault("tags", {}).update(body.get("tags") or {})
        return Reply(200, {"runId": name, "properties": dict(props), "tags": dict(job["properties"]["tags"])})

    def finish(
        self,
        name: str,
        status: str,
        *,
        start: str = "2026-11-21T02:00:05.123Z",
        end: str = "2026-11-21T02:07:35.5Z",
        error: tuple[str, str] | None = None,
    ) -> None:
        """Move a run to a final state with run-history times (and an error for a failure)."""
        self.set_status(name, status)
        record: dict[str, Any] = {"startTimeUtc": start, "endTimeUtc": end}
        if error:
            record["error"] = {"error": {"code": error[0], "message": error[1]}}
        self.run_records[name] = record

    def add_step(self, parent: str, name: str, status: str) -> None:
        """Give a job a child step (what Azure ML creates when a pipeline runs)."""
        self.steps.setdefault(parent, []).append({"name": name, "status": status})
        self.jobs[name] = {
            "id": name,
            "name": name,
            "properties": {"jobType": "Command", "status": status, "displayName": name, "experimentName": "e"},
        }

    # ---- v1 published pipelines and endpoints (PascalCase, as the AEVA service speaks)
    def publish(
        self,
        pipeline_id: str,
        parameters: dict[str, Any],
        *,
        data_paths: tuple[str, ...] = (),
        status: str = "Active",
        name: str = "train",
    ) -> None:
        graph = f"graph-{pipeline_id[:8]}"
        self.v1_pipelines[pipeline_id] = {
            "Name": name,
            "Description": None,
            "Version": "1.0",
            "GraphId": graph,
            "TotalRunSteps": 2,
            "ParameterAssignments": {k: str(v) for k, v in parameters.items()},
            "DataSetDefinitionValueAssignments": {},
            "Id": pipeline_id,
            "EntityStatus": status,
            "ContinueRunOnStepFailure": False,
            "Properties": {},
        }
        self.v1_graphs[graph] = {
            "Parameters": [
                {"Name": k, "DefaultValue": str(v), "IsOptional": True, "Type": 3} for k, v in parameters.items()
            ],
            "MetadataParameters": [],
            "DataPathParameters": [
                {
                    "Name": n,
                    "DefaultValue": {"DataStoreName": "workspaceblobstore", "RelativePath": "in/"},
                    "IsOptional": True,
                }
                for n in data_paths
            ],
            "DataPathParameterList": [],
            "Ports": {},
        }

    def publish_duplicate_of(self, run_id: str, *, created_before: bool) -> str:
        """Another v1 run with the same properties (a second instance's submit of the same name)."""
        original = self.jobs[run_id]
        twin = str(uuid.UUID(int=next(self.counter)))
        copied = copy.deepcopy(original)
        copied.update({"id": original["id"].rsplit("/", 1)[0] + "/" + twin, "name": twin})
        created = datetime.fromisoformat(original["systemData"]["createdAt"].replace("Z", "+00:00"))
        shifted = created + timedelta(milliseconds=-1 if created_before else 1)
        copied["systemData"] = {"createdAt": shifted.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        self.jobs[twin] = copied
        self.v1_run_ids.add(twin)
        return twin

    def publish_endpoint(self, endpoint_id: str, versions: dict[str, str], default: str) -> None:
        self.v1_endpoints[endpoint_id] = {
            "Name": "ep",
            "DefaultVersion": default,
            "Id": endpoint_id,
            "EntityStatus": "Active",
            "PipelineVersionList": [{"Version": v, "PipelineId": p} for v, p in versions.items()],
            "Properties": {},
            "tags": {},
        }

    @staticmethod
    def _v1_missing(what: str) -> Reply:
        return Reply(404, {"Error": {"Code": "EntityNotFound", "Message": f"{what} not found", "InnerError": None}})

    def _v1_pipeline(self, call: Call, pid: str, **_: str) -> Reply:
        found = self.v1_pipelines.get(pid)
        return Reply(200, found) if found else self._v1_missing(f"Pipeline {pid}")

    def _v1_interface(self, call: Call, gid: str, **_: str) -> Reply:
        found = self.v1_graphs.get(gid)
        return Reply(200, found) if found else self._v1_missing(f"Graph {gid}")

    def _v1_endpoint(self, call: Call, eid: str, **_: str) -> Reply:
        found = self.v1_endpoints.get(eid)
        return Reply(200, found) if found else self._v1_missing(f"PipelineEndpoint {eid}")

    def _v1_submit(self, call: Call, sub: str, rg: str, ws: str, pid: str) -> Reply:
        if pid not in self.v1_pipelines:
            return self._v1_missing(f"Pipeline {pid}")
        body = call.body or {}
        key = str((body.get("Properties") or {}).get(RUN_NAME_KEY) or "")
        self._before_create(key)
        self.v1_submits.append(call)
        run_id = str(uuid.UUID(int=next(self.counter)))
        self.v1_run_ids.add(run_id)
        self.creates[key or run_id] += 1
        self.jobs[run_id] = {
            "id": self._job_id(sub, rg, ws, run_id),
            "name": run_id,
            "systemData": {"createdAt": self._created_at()},
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {
                "jobType": "Pipeline",
                "status": "NotStarted",
                "experimentName": body.get("ExperimentName"),
                "displayName": body.get("Description"),
                "properties": dict(body.get("Properties") or {}),
                "tags": dict(body.get("tags") or {}),
                "inputs": {},
                "outputs": {},
                "jobs": {},
                "settings": {},
            },
        }
        return Reply(
            200,
            {
                "Id": run_id,
                "Status": {"StatusCode": "NotStarted"},
                "PipelineId": pid,
                "RunHistoryExperimentName": body.get("ExperimentName"),
                "RunSource": body.get("RunSource"),
                "tags": body.get("tags") or {},
                "Properties": body.get("Properties") or {},
            },
        )

    def _v1_endpoint_submit(  # noqa: PLR0917 - the router passes the path's groups by position
        self,
        call: Call,
        sub: str,
        rg: str,
        ws: str,
        eid: str,
        version: str | None = None,
    ) -> Reply:
        endpoint = self.v1_endpoints.get(eid)
        if endpoint is None:
            return self._v1_missing(f"PipelineEndpoint {eid}")
        wanted = version or (call.query.get("pipelineVersion") or [endpoint["DefaultVersion"]])[0]
        pid = next((v["PipelineId"] for v in endpoint["PipelineVersionList"] if v["Version"] == wanted), None)
        if pid is None:
            return Reply(400, {"Error": {"Code": "BadRequest", "Message": f"no version {wanted}"}})
        return self._v1_submit(call, sub, rg, ws, pid)

    # ---- batch endpoints
    def add_batch_endpoint(self, base: str, name: str, deployments: dict[str, str], default: str | None) -> None:
        """A batch endpoint with pipeline-component deployments (deployment name -> component ARM id)."""
        path = f"{base}/batchEndpoints/{name}"
        host = f"{name}.{self.region}.inference.ml.azure.com"
        scoring = f"{self.host}/inference/{name}/jobs" if self.host else f"https://{host}/jobs"
        self.resources[path.lower()] = {
            "id": path,
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
            "location": self.region,
            "properties": {
                "authMode": "AADToken",
                "scoringUri": scoring,
                "defaults": {"deploymentName": default} if default else {},
                "provisioningState": "Succeeded",
            },
        }
        for deployment, component_id in deployments.items():
            self.resources[f"{path}/deployments/{deployment}".lower()] = {
                "id": f"{path}/deployments/{deployment}",
                "name": deployment,
                "location": self.region,
                "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
                "properties": {
                    "deploymentConfiguration": {
                        "deploymentConfigurationType": "PipelineComponent",
                        "componentId": {"assetId": component_id, "referenceType": "Id"},
                        "settings": {},
                    },
                    "provisioningState": "Succeeded",
                },
            }
        self.scoring_hosts[host] = (base, name)
        self.scoring_hosts[name] = (base, name)

    def _invoke_batch(self, call: Call, endpoint: str | None = None) -> Reply:
        host = endpoint or call.url.split("/")[2]
        if host not in self.scoring_hosts:
            return Reply(404, {"error": {"code": "NotFound", "message": f"no endpoint at {host}"}})
        base, endpoint = self.scoring_hosts[host]
        props = call.body["properties"]
        name = props.get("name") or f"batchjob-{next(self.counter)}"
        self._before_create(name)
        self.creates[name] += 1
        if name in self.jobs:
            return Reply(409, {"error": {"code": "Conflict", "message": f"Job {name} already exists"}})
        deployment = call.headers.get("azureml-model-deployment")
        job = {
            "id": f"{base}/jobs/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {
                "jobType": "Pipeline",
                "status": "NotStarted",
                "experimentName": props.get("properties", {}).get("experimentName", endpoint),
                "properties": {"azureml.batchrun": "true", "endpoint": endpoint, "deployment": str(deployment)},
                "inputs": {k: _job_input(v) for k, v in props.get("inputData", {}).items()},
                "tags": {},
            },
        }
        self.jobs[name] = job
        self.batch_invocations.append(call)
        return Reply(200, {"id": job["id"], "name": name, "properties": {**props, "status": "NotStarted"}})

    def set_status(self, name: str, status: str) -> None:
        self.jobs[name]["properties"]["status"] = status

    def _get_or_list(self, call: Call, **kw: str) -> Reply:
        if call.path.rstrip("/").endswith("/deployments"):
            return self._list(call)
        return self._get(call)


def install(router: Router) -> FakeAzureML:
    return FakeAzureML(router)


Seeder = Callable[[FakeAzureML], None]
__all__ = ["WS", "FakeAzureML", "install", "uuid"]
