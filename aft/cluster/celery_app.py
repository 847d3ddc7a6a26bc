"""The Celery application that carries "run job X" messages between aft nodes.

Settings that make delivery safe: ``acks_late`` (a message is acknowledged when its task
has returned, so a worker that dies leaves it to be delivered again),
``task_reject_on_worker_lost``, and a prefetch of one (a busy worker does not hold
messages that an idle one could take). A message is only a nudge: the ``jobs`` table
decides whether it still means work (see :class:`aft.jobs.ClusterQueue`).
"""

from __future__ import annotations

from typing import Any

RUN_JOB = "aft.run_job"


def make_app(broker_url: str) -> Any:
    """A Celery app on ``broker_url`` with aft's delivery settings (no result backend)."""
    from celery import Celery

    app = Celery("aft", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue="default",
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        # How long an unacknowledged message waits before Redis hands it out again.
        broker_transport_options={"visibility_timeout": 3600},
    )
    return app


def publish(app: Any, job_id: str, group: str) -> None:
    """Send "run ``job_id``" to the workers of ``group``."""
    app.send_task(RUN_JOB, args=[job_id], queue=group, routing_key=group)
