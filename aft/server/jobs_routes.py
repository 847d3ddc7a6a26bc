"""``/v1/jobs``: queue a run, list and read jobs and their logs, halt a job."""

from __future__ import annotations

import os
from typing import Any

from aft._serde import to_json
from aft.exceptions import BadRequest, Forbidden, JobNotFound
from aft.executor import check_params, read_script
from aft.instance import Instance
from aft.jobs import TRIGGERS
from aft.models import JobState
from aft.roles import sees_every_job
from aft.server.http import (
    MAX_BODY,
    Api,
    Caller,
    field,
    header,
    json_body,
    only,
    query_int,
    query_text,
    query_time,
    worker_group,
)


def add_jobs_routes(api: Api) -> None:
    """Register the routes of this module on ``api``."""
    ctx, route = api.ctx, api.route

    def visible_job(job_id: str, who: Caller) -> Any:
        job = ctx.instance.jobs.get(job_id)
        if not sees_every_job(who.role) and job.api_key_id != who.key_id:
            raise JobNotFound(f"no job {job_id!r}")  # a run key sees only the jobs it started
        return job

    @route("POST", "/v1/jobs", "run", 202)
    def submit_job(who: Caller) -> Any:
        body = json_body()
        only(body, {"scriptName", "scriptId", "filePath", "params", "jobType", "group"})
        chosen = [k for k in ("scriptName", "scriptId", "filePath") if body.get(k) is not None]
        if len(chosen) != 1:
            raise BadRequest("give exactly one of scriptName, scriptId, filePath")
        params = check_params(field(body, "params", dict, {}))
        for name, value in params.items():
            if isinstance(value, (dict, list)):
                raise BadRequest(f"params must be flat: {name!r} holds an object or array")
        retries, backoff, script_id = 0, 0.0, None
        if "filePath" in chosen:
            path = field(body, "filePath", str)
            source, name = _file_script(ctx.instance, path, who), path.rsplit("/", 1)[-1]
        else:
            script = ctx.instance.scripts.get(field(body, chosen[0], str))
            source, name, script_id = script.source, script.name, script.id
            retries, backoff = script.retries, script.retry_backoff
        key = header("Idempotency-Key") or None
        try:
            job = ctx.instance.jobs.submit(
                source,
                script_name=name,
                params=params,
                trigger=who.trigger,
                script_id=script_id,
                api_key_id=who.key_id,
                retries=retries,
                retry_backoff=backoff,
                group=worker_group(ctx.instance, body),
                idempotency_key=key,
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        ctx.notify()
        return to_json(job)  # {"jobId", "status": "queued", ...}: the whole job

    @route("GET", "/v1/jobs", "any")
    def list_jobs(who: Caller) -> Any:
        state = query_text("status")
        if state is not None and state not in {s.value for s in JobState}:
            raise BadRequest(f"unknown status {state!r}")
        since = query_time("since")
        trigger = query_text("trigger")
        if trigger is not None and trigger not in TRIGGERS:
            raise BadRequest(f"trigger is one of {', '.join(TRIGGERS)}, not {trigger!r}")
        jobs, cursor = ctx.instance.jobs.list(
            state=state,
            script=query_text("script"),
            trigger=trigger,
            since=since,
            api_key_id=None if sees_every_job(who.role) else who.key_id,
            limit=query_int("limit", 50, 1, 500) or 50,
            cursor=query_int("cursor", None, 0, 2**62),
        )
        return {"jobs": to_json(jobs), "nextCursor": cursor}

    @route("GET", "/v1/jobs/<job_id>", "any")
    def get_job(job_id: str, who: Caller) -> Any:
        job = to_json(visible_job(job_id, who))
        return {**job, "progress": ctx.instance.jobs.progress(job_id)}

    @route("GET", "/v1/jobs/<job_id>/log", "any")
    def job_log(job_id: str, who: Caller) -> Any:
        job = visible_job(job_id, who)
        offset = query_int("offset", 0, 0, 2**62) or 0
        lines, next_offset = ctx.instance.jobs.log(job_id, offset)
        return {
            "lines": [{"time": ln.time, "level": ln.level.value, "text": ln.text} for ln in lines],
            "nextOffset": next_offset,
            "status": job.state.value,
        }

    @route("POST", "/v1/jobs/<job_id>/halt", "run", 202)
    def halt_job(job_id: str, who: Caller) -> Any:
        visible_job(job_id, who)
        job = ctx.instance.jobs.request_halt(job_id)
        ctx.notify()
        return to_json(job)  # {"jobId", "status": "queued", ...}: the whole job


def _file_script(instance: Instance, path: str, who: Caller) -> str:
    """The text of a ``filePath`` job's script: for an admin key, a regular file of at
    most :data:`MAX_BODY` inside the ``file_path_roots`` folders, when ``allow_file_path``
    is on (the instance's own CLI, which owns the files, is held to the size cap only).
    A path outside the roots is refused with the same words whether it exists or not.

    Raises:
        Forbidden: filePath jobs are off, the key is not an admin key, or the path is not
            inside the roots.
        ScriptNotFound, ScriptError: the file cannot be run.
    """
    if who.trigger != "cli":
        if who.role != "admin":
            raise Forbidden("filePath jobs need an admin key")
        if not instance.settings.get("allow_file_path"):
            raise Forbidden("filePath jobs are off: set allow_file_path to true to allow them")
        roots = [
            os.path.realpath(root)
            for root in str(instance.settings.get("file_path_roots")).split(os.pathsep)
            if os.path.isabs(root)
        ]
        real = os.path.realpath(path)
        if not os.path.isabs(path) or not any(
            os.path.commonpath([real, root]) == root for root in roots
        ):
            raise Forbidden("filePath must name a file inside the file_path_roots folders")
        path = real
    return read_script(path, max_bytes=MAX_BODY)
