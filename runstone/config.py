"""Settings: the only place that reads the environment.

Every setting can be given as an environment variable named ``RUNSTONE_<NAME>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from runstone.limits import MAX_ARTIFACT_BYTES, MAX_RUN_ARTIFACT_BYTES


def _default_home() -> Path:
    return Path.home() / ".runstone"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNSTONE_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Folder of the embedded default: runstone.db and artifacts/ live here.",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="Where the SDK logs: http(s)://host:port for a server, a database URI, "
        "or unset for the embedded store under the home folder.",
    )
    experiment_name: str | None = Field(
        default=None, description="Experiment that runs started without one go to (created when missing)."
    )
    experiment_id: str | None = Field(
        default=None, description="Experiment id that runs started without one go to (default: 0)."
    )
    run_id: str | None = Field(
        default=None,
        description="Run that the SDK's first start_run() without a run id resumes; set by `runstone run` "
        "for the command it starts (MLflow's MLFLOW_RUN_ID is honoured by the stock mlflow client).",
    )
    env_cache: Path | None = Field(
        default=None,
        description="Folder of the environments built for projects by `runstone run`, `reproduce` and `sweep` "
        "(default: envs/ in the home folder).",
    )
    backend_store_uri: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database (default: SQLite in the home folder).",
    )
    artifacts_destination: str | None = Field(
        default=None,
        description="Root of artifact storage: a folder or s3://bucket/prefix "
        "(default: artifacts/ in the home folder).",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (SeaweedFS, MinIO, ...)."
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=5000, description="Port the server listens on.")
    workers: int = Field(default=1, description="Number of server worker processes.")
    external_url: str | None = Field(
        default=None,
        description="The URL clients reach the server by (https://mlops.example.com, behind a proxy or a load "
        "balancer): links the server hands out, such as multipart-upload part URLs, are built from it, never from "
        "a request's Host header (default: http://<host>:<port> it listens on, 127.0.0.1 for 0.0.0.0).",
    )
    user: str | None = Field(
        default=None, description="User name recorded on runs and audit events (default: login name)."
    )
    auth: bool = Field(
        default=False,
        description="Require a credential (a user's password or an API token) on every route of the server; "
        "off, the caller is whoever X-Runstone-User names (the embedded single-user setup).",
    )
    admin_password: str | None = Field(
        default=None,
        description="Password of the admin that the first start with auth creates (default: one is made up and "
        "printed once).",
    )
    auth_token_cache_seconds: float = Field(
        default=5.0,
        description="Seconds a server process trusts an API token it verified, and remembers a permission "
        "decision and which experiment a run is in, before reading them again, so a busy client costs no "
        "database read per request; a revoked token or grant, or a moved run, counts within this time "
        "(0: read on every request).",
    )
    ui_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="With auth on, hours a UI sign-in lasts before the browser must sign in again (signing out "
        "ends it at once).",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="With auth on, the OpenID Connect provider (its issuer URL, https://login.example.com/realms/x) "
        "the UI offers single sign-on with; its discovery document is read from "
        "<issuer>/.well-known/openid-configuration (default: no single sign-on).",
    )
    oidc_client_id: str | None = Field(default=None, description="This server's client id at the OIDC provider.")
    oidc_client_secret: str | None = Field(
        default=None, description="This server's client secret at the OIDC provider (sent with HTTP basic auth)."
    )
    oidc_user_claim: str = Field(
        default="preferred_username",
        description="The ID token claim that names the runstone user (a user is created at its first sign-in).",
    )
    oidc_groups_claim: str = Field(
        default="groups",
        description="The ID token claim listing the user's groups: at each sign-in the user becomes a member of "
        "the runstone groups it names and leaves the others (groups are not created).",
    )
    oidc_scopes: str = Field(default="openid profile email", description="Scopes asked of the OIDC provider.")
    auth_default_permission: Literal["NONE", "READ", "EDIT", "MANAGE"] = Field(
        default="NONE",
        description="With auth on, what every signed-in user holds on an experiment or registered model that no "
        "grant names (the creator gets MANAGE; admins hold everything).",
    )
    tracking_token: str | None = Field(
        default=None, description="API token the SDK and CLI send to a server that has auth on."
    )
    tracking_username: str | None = Field(
        default=None,
        description="User name the SDK and CLI sign in with (with tracking_password) when no token is set.",
    )
    tracking_password: str | None = Field(default=None, description="Password that goes with tracking_username.")
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated host names the server answers to (its Host header); other names get 400, "
        "which stops DNS rebinding. `runstone server` sets it to localhost,127.0.0.1,::1 when it listens on "
        "loopback; unset or * allows any.",
    )
    allowed_origins: str | None = Field(
        default=None,
        description="Comma-separated origins (https://name:port) besides the server's own whose pages may send "
        "requests that change data.",
    )
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024,
        description="Largest JSON request body the server accepts (artifact uploads excepted).",
    )
    max_artifact_bytes: int = Field(
        default=MAX_ARTIFACT_BYTES,
        description="Largest single artifact file accepted, in bytes (10 GiB); larger uploads answer 413.",
    )
    max_run_artifact_bytes: int = Field(
        default=MAX_RUN_ARTIFACT_BYTES,
        description="Most bytes of artifacts one run (or one logged model) may hold (100 GiB); an upload that "
        "would pass it answers 413 and is not kept.",
    )
    header_timeout: float = Field(
        default=20.0,
        description="Seconds a client has to send a request's line and headers once it starts (servers close "
        "slower connections with 408).",
    )
    max_header_bytes: int = Field(
        default=64 * 1024, description="Largest request line and headers, in bytes, a server accepts (431 beyond)."
    )
    max_headers: int = Field(default=100, description="Most headers one request may carry (431 beyond).")
    body_timeout: float = Field(
        default=20.0,
        description="Seconds after which a request body must have averaged body_min_rate bytes per second "
        "(servers close slower uploads with 408).",
    )
    body_min_rate: float = Field(
        default=500.0, description="Bytes per second a request body must average once body_timeout has passed."
    )
    drain_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Seconds a server keeps accepting and answering requests after SIGTERM, with /health/ready "
        "failing so that load balancers stop sending it work; then it stops accepting connections and finishes "
        "the requests in flight. Set it to your load balancer's health-check interval times its failure threshold.",
    )
    http_timeout: float = Field(default=30.0, description="Seconds before an SDK request gives up.")
    http_retries: int = Field(default=5, description="How often the SDK retries a request the server did not answer.")
    flush_interval: float = Field(default=1.0, description="Seconds between background flushes of buffered metrics.")
    journal: Literal["on", "fsync", "off"] = Field(
        default="on",
        description="Write-ahead journal of the SDK's logging calls under <home>/journal: on (each call is written "
        "to the operating system before it returns, so it survives the process being killed), fsync (also forced "
        "to the disk: survives a power cut, slower), off (memory only until sent; what the server has not taken "
        "at exit is journaled then).",
    )
    mode: Literal["online", "offline"] = Field(
        default="online",
        description="offline: the SDK never contacts the server; runs get ids made by the client and everything "
        "is journaled for `runstone sync`.",
    )
    heartbeat_interval: float = Field(
        default=30.0, gt=0, description="Seconds between the SDK's heartbeats for its active runs."
    )
    run_heartbeat_timeout_seconds: float = Field(
        default=600.0,
        ge=0,
        description="A RUNNING run whose client sent heartbeats and then none for this long is marked KILLED "
        "by the server (0: never). Runs whose client never sends heartbeats are left alone.",
    )
    system_metrics: bool = Field(
        default=False,
        description="Log CPU, memory, disk and network usage (and GPUs when pynvml is installed) as system/... "
        "metrics of every run the SDK starts, until the run ends.",
    )
    system_metrics_interval: float = Field(
        default=10.0, gt=0, description="Seconds between two system metrics samples of a run."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to private, loopback and link-local addresses (off: no server-side "
        "requests into the internal network).",
    )
    webhook_interval: float = Field(default=2.0, description="Seconds between webhook delivery rounds on the server.")
    monitoring_window: str = Field(
        default="1h",
        description="Width of the monitoring windows the server evaluates (90s, 15m, 1h, 1d, or seconds).",
    )
    monitoring_interval: float = Field(
        default=30.0,
        description="Seconds between the server's monitoring rounds (windows, rules, retention); 0 turns them off.",
    )
    monitoring_profile_interval: float = Field(
        default=2.0,
        description="Seconds between the server's looks for newly registered model versions, whose reference "
        "profile it then computes from the dataset their run recorded; 0 turns profiling at registration off.",
    )
    monitoring_retention_days: float = Field(
        default=30.0, description="Days raw prediction logs are kept; window results are kept for good."
    )
    trace_retention_interval: float = Field(
        default=3600.0,
        description="Seconds between the server's trace retention rounds, which delete the traces older than their "
        "experiment's runstone.traces.retentionDays tag; 0 turns them off (traces still expire as new ones arrive).",
    )
    log_requests: bool = Field(default=True, description="Log one structured line per server request.")
    skops_trusted_types: str = Field(
        default="",
        description="Comma-separated types that loading a skops-saved model may build beyond the ones skops trusts "
        "by default (for example my_package.MyTransformer). A package's own list in its MLmodel is never used.",
    )
    serve_spec: str | None = Field(
        default=None,
        description="What a scoring server worker serves (JSON); set by `runstone models serve` for its "
        "worker processes, not by hand.",
    )

    @property
    def database_uri(self) -> str:
        if self.backend_store_uri:
            return self.backend_store_uri
        return f"sqlite:///{self.home / 'runstone.db'}"

    @property
    def public_url(self) -> str:
        """The server's URL in links it hands out (no trailing slash)."""
        if self.external_url:
            return self.external_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def artifact_root(self) -> str:
        if self.artifacts_destination:
            return self.artifacts_destination
        return str(self.home / "artifacts")
