"""A node's configuration: where its database and broker are, read before the database opens.

They cannot live in the ``settings`` table, which is itself in the database, so they come
from the environment (``AFT_DATABASE_URL``, ``AFT_BROKER_URL``) or, failing that, from
``cluster.conf`` in the instance home::

    [cluster]
    database_url = postgresql://aft@db.example/aft
    broker_url = redis://queue.example:6379/0

The timing knobs (``heartbeat_seconds``, ``stale_after_seconds``,
``republish_after_seconds``) may be set the same ways (``AFT_HEARTBEAT_SECONDS`` ...).

Every database call of a node has a deadline derived from ``stale_after_seconds`` (see
:meth:`ClusterConfig.database_options`): the URL a node connects with carries libpq's
``connect_timeout``, TCP keepalives, ``tcp_user_timeout`` and the server-side
``statement_timeout`` and ``idle_in_transaction_session_timeout``, each unless the
configured URL sets it itself.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from aft.exceptions import ConfigError

CONFIG_NAME = "cluster.conf"


class ClusterConfig(NamedTuple):  # not attrs or dataclasses: `aft run` starts fast
    """How this node reaches the rest of the cluster.

    Attributes:
        database_url: ``postgresql://...``, or None for the embedded SQLite database; as
            :func:`cluster_config` returns it, with the deadlines of
            :meth:`database_options` the configured URL does not set itself.
        broker_url: ``redis://...``, or None to run jobs in this node's own worker pool.
        heartbeat_seconds: how often a worker node says it still runs a job.
        stale_after_seconds: a running job without a heartbeat for this long is interrupted.
        republish_after_seconds: a queued job whose message was sent this long ago and that
            no worker took is sent again (a lost message never loses the job).
    """

    database_url: str | None = None
    broker_url: str | None = None
    heartbeat_seconds: float = 2.0
    stale_after_seconds: float = 30.0
    republish_after_seconds: float = 300.0

    @property
    def distributed(self) -> bool:
        """True when jobs go to Celery worker nodes instead of the in-process pool."""
        return self.broker_url is not None

    def database_options(self) -> dict[str, str]:
        """The libpq connection parameters that give every database call a deadline.

        With ``stale_after_seconds`` = S (30 by default): a connection attempt gives up after
        S/4 seconds (at least 2, libpq's minimum); an idle connection is probed after S/6
        seconds, every S/15, and dropped after 3 unanswered probes (11 s for S = 30); data
        left unacknowledged for S/2 drops the connection (``tcp_user_timeout``); the server
        cancels a statement after S (``statement_timeout``) and ends a session left idle
        inside a transaction for S/2, so a node cut off mid-transaction never holds the
        cluster's write lock for long. :class:`aft._pgstore.PostgresStore` also gives up
        on a statement whose answer has not come S/10 (at least 1 s) after the server would
        have cancelled it, which covers a path that swallows packets without a reset.
        """
        stale = self.stale_after_seconds
        return {
            "connect_timeout": str(max(2, math.ceil(stale / 4))),
            "keepalives": "1",
            "keepalives_idle": str(max(1, round(stale / 6))),
            "keepalives_interval": str(max(1, round(stale / 15))),
            "keepalives_count": "3",
            "tcp_user_timeout": str(max(1000, round(stale * 500))),
            "options": (
                f"-c statement_timeout={max(1000, round(stale * 1000))}"
                f" -c idle_in_transaction_session_timeout={max(1000, round(stale * 500))}"
            ),
        }


def cluster_config(home: Path, environ: dict[str, str] | None = None) -> ClusterConfig:
    """The cluster configuration of the node whose instance home is ``home``.

    Raises:
        ConfigError: a malformed ``cluster.conf``, a bad number, or a broker without a
            PostgreSQL database (worker nodes must share the job records).
    """
    env = os.environ if environ is None else environ
    file_values: dict[str, str] = {}
    path = home / CONFIG_NAME
    if path.exists():
        import configparser

        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if parser.has_section("cluster"):
            file_values = dict(parser.items("cluster"))

    def value(key: str) -> str | None:
        return env.get(f"AFT_{key.upper()}") or file_values.get(key) or None

    numbers: dict[str, float] = {}
    for key in ("heartbeat_seconds", "stale_after_seconds", "republish_after_seconds"):
        raw = value(key)
        if raw is not None:
            try:
                numbers[key] = float(raw)
            except ValueError:
                raise ConfigError(f"{key} takes a number of seconds, not {raw!r}") from None
            if numbers[key] <= 0:
                raise ConfigError(f"{key} must be more than 0")
    config = ClusterConfig(value("database_url"), value("broker_url"), **numbers)
    if config.database_url is not None and not config.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError("database_url must be a postgresql:// URL")
    if config.broker_url is not None and config.database_url is None:
        raise ConfigError("broker_url needs a database_url: worker nodes share the job records")
    if config.stale_after_seconds <= 2 * config.heartbeat_seconds:
        raise ConfigError("stale_after_seconds must be more than twice heartbeat_seconds")
    if config.database_url is not None:
        url = with_options(config.database_url, config.database_options())
        config = config._replace(database_url=url)
    return config


def with_options(url: str, options: dict[str, str]) -> str:
    """``url`` with the query parameters of ``options`` it does not set itself.

    The URL's own values win; its ``options`` (server settings, ``-c name=value``) gain
    those of ``options`` that it does not name.

    Raises:
        ConfigError: the URL's query cannot be read.
    """
    parts = urlsplit(url)
    try:
        present = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigError("database_url has a malformed query string") from None
    names = {name for name, _ in present}
    query = [(name, value) for name, value in options.items() if name not in names]
    if "options" in names and "options" in options:
        theirs = " ".join(value for name, value in present if name == "options")
        settings = [f"-c {item.strip()}" for item in options["options"].split("-c") if item.strip()]
        missing = [c for c in settings if c.split()[1].split("=")[0] not in theirs]
        if missing:
            present = [(name, value) for name, value in present if name != "options"]
            query.append(("options", " ".join([theirs, *missing])))
    elif not query:
        return url
    return urlunsplit(parts._replace(query=urlencode(present + query, quote_via=quote)))


def save_database_url(home: Path, url: str) -> Path:
    """Write ``database_url`` into ``home``'s ``cluster.conf`` (other entries are kept).

    The file is replaced whole and readable by its owner only: the URL may hold a password.
    """
    import configparser

    path = home / CONFIG_NAME
    parser = configparser.ConfigParser()
    if path.exists():
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if not parser.has_section("cluster"):
        parser.add_section("cluster")
    parser.set("cluster", "database_url", url.replace("%", "%%"))
    temp = path.with_name(path.name + ".new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        parser.write(f)
    os.replace(temp, path)
    return path
