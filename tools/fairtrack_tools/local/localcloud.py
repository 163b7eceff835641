"""The embedded AWS of the local stack: moto in server mode, resources created from template.yaml.

Queues (with their RedrivePolicy), tables (keys, TTL) and buckets are created from the template's
resource definitions; each function's environment is the template's, resolved against the
created resources and local parameter values (destination URLs point at the capture server, the
webhook secret is a local Secrets Manager secret). The policy table is seeded with
``policies/default.yaml`` and a dev source.

Parameters are checked against the template's ``AllowedPattern`` and ``AllowedValues`` as
CloudFormation would, with one visible exception, :data:`LOOPBACK_URL_PARAMETERS`: the capture
server is plain ``http://127.0.0.1``, which ``WebhookUrl``'s pattern (``https://`` only) refuses.
Given such a loopback URL, the local stack passes the template a stand-in ``https://`` URL (so
the webhook is enabled and the template is resolved as deployed) and sets the forwarder's
environment variable to the loopback URL itself; any other ``http://`` URL is refused.

The admin routes (``AWS_IAM``) get ``OperatorRoleArn`` = :data:`LOCAL_OPERATOR_ROLE_ARN` unless a
test overrides it, and the local API server presents signed requests to them as a session of that
role (:data:`LOCAL_OPERATOR_SESSION`); it does not verify signatures.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import logging
import re
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.server import ThreadedMotoServer

from fairtrack.stores.policy_table import Source
from fairtrack_tools.local.capture import CaptureServer, CaptureStore
from fairtrack_tools.local.runtime import PROJECT_ROOT, FunctionSpec
from fairtrack_tools.local.template import ACCOUNT, REGION, Resolver, load, resources_of_type
from fairtrack_tools.ops import policy_ops, sources

DEV_WRITE_KEY = "dev-write-key"
DEV_MEASUREMENT_ID = "G-DEV"
DEV_SOURCE_ID = "dev"
# the admin routes' operator role on the local stack, and the session the local API presents
LOCAL_OPERATOR_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/fairtrack-operator"
LOCAL_OPERATOR_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/fairtrack-operator/local-operator"
# URL parameters whose pattern refuses http://, given to a function's environment instead when
# they point at a loopback address: parameter -> (function, environment variable)
LOOPBACK_URL_PARAMETERS = {"WebhookUrl": ("WebhookForwarderFunction", "WEBHOOK_URL")}
LOOPBACK_STAND_IN = "https://loopback.fairtrack.invalid/"


def is_loopback_http(url: str) -> bool:
    """Whether ``url`` is ``http://`` to a loopback address (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def check_parameters(template: dict[str, Any], values: dict[str, str]) -> None:
    """Refuse (ValueError) a parameter value the template's AllowedPattern (whole value, as
    CloudFormation matches it) or AllowedValues would refuse at deploy time."""
    specs = template.get("Parameters", {})
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            raise ValueError(f"{name} is not a parameter of the template")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), value) is None:
            raise ValueError(f"{name}: {spec.get('ConstraintDescription', 'does not match ' + str(pattern))}")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in {str(v) for v in allowed}:
            raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class SqsSource:
    function: str
    queue_url: str
    batch_size: int
    window_seconds: float


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function: str
    iam_auth: bool = False  # the AWS_IAM authorizer (SigV4): the admin routes

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


class LocalCloud:
    def __init__(
        self,
        template_path: Path | None = None,
        parameters: dict[str, str] | None = None,
        moto_port: int = 0,
        app_origin: str = "http://127.0.0.1:3000",
        embedded: bool = True,
    ) -> None:
        """``embedded=False`` skips the moto server: use it inside ``moto.mock_aws`` in tests."""
        self.template_path = template_path or PROJECT_ROOT / "template.yaml"
        self.template = load(self.template_path)
        self.base_dir = self.template_path.parent
        self.overrides = dict(parameters or {})
        self.moto_port = moto_port
        self.embedded = embedded
        self.app_origin = app_origin
        self.captures = CaptureStore()
        self.capture_server: CaptureServer | None = None
        self.moto: ThreadedMotoServer | None = None
        self.resolver: Resolver | None = None
        self.loopback_env: dict[str, dict[str, str]] = {}  # function -> variables set past the template
        self.endpoint = ""
        self.session: boto3.Session | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log names every call
        if self.embedded:
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
            # moto keeps its state per process, not per server: start from an empty account
            urllib.request.urlopen(
                urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"),
                timeout=10,
            ).close()
        self.session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
            region_name=REGION,
        )
        self.capture_server = CaptureServer(self.captures).start()
        base = self.capture_server.base_url
        params = {
            "WebhookUrl": f"{base}/webhook",
            "Ga4Endpoint": f"{base}/ga4",
            "MetaGraphUrl": f"{base}/meta/v21.0",
            # GA4 and Meta are enabled locally against the capture server; GA4 in its debug mode,
            # so the capture server's validation messages come back the way Google's would
            "Ga4MeasurementId": "G-LOCAL",
            "Ga4DebugMode": "true",
            "MetaPixelId": "1234567890",
            # a policy or source pushed to the local stack takes effect within 2 s (deployed: 30 s)
            "PolicyCacheSeconds": "2",
            # the admin routes admit sessions of this role (the local API presents one)
            "OperatorRoleArn": LOCAL_OPERATOR_ROLE_ARN,
        }
        params.update(self.overrides)
        self.loopback_env = {}
        for param, (function, variable) in LOOPBACK_URL_PARAMETERS.items():
            if is_loopback_http(params.get(param, "")):  # the documented local exception
                self.loopback_env.setdefault(function, {})[variable] = params[param]
                params[param] = LOOPBACK_STAND_IN
        check_parameters(self.template, params)
        for param, name in (
            ("WebhookSecretArn", "webhook"),
            ("Ga4ApiSecretArn", "ga4-api-secret"),
            ("MetaAccessTokenArn", "meta-access-token"),
        ):
            if param not in params:
                params[param] = self.client("secretsmanager").create_secret(
                    Name=f"fairtrack-local-{name}", SecretString=secrets.token_hex(32)
                )["ARN"]
        self.resolver = Resolver(self.template, params)
        self._create_resources()
        self.seed()
        return self

    def stop(self) -> None:
        if self.capture_server:
            self.capture_server.stop()
        if self.moto:
            self.moto.stop()

    def client(self, service: str) -> Any:
        assert self.session is not None
        return self.session.client(service, endpoint_url=self.endpoint or None)  # type: ignore[call-overload]

    @property
    def aws_env(self) -> dict[str, str]:
        endpoint = {"AWS_ENDPOINT_URL": self.endpoint} if self.endpoint else {}
        return {
            **endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    # -- resources -----------------------------------------------------------------------------
    def _create_resources(self) -> None:
        r = self.resolver
        assert r is not None
        sqs, ddb, s3 = self.client("sqs"), self.client("dynamodb"), self.client("s3")
        prefix = "fairtrack-local-"
        queues = resources_of_type(self.template, "AWS::SQS::Queue")
        for logical in queues:
            name = f"{prefix}{logical}"
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            r.refs[logical] = url
            r.attrs[(logical, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            r.attrs[(logical, "QueueName")] = name
            r.attrs[(logical, "QueueUrl")] = url
        for logical, res in queues.items():  # attributes after every queue exists (RedrivePolicy refers to DLQs)
            props = r.resolve(res.get("Properties", {}))
            attrs = {
                k: json.dumps(v) if isinstance(v, dict) else str(v)
                for k, v in props.items()
                if k
                in (
                    "VisibilityTimeout",
                    "RedrivePolicy",
                    "MessageRetentionPeriod",
                    "DelaySeconds",
                    "ReceiveMessageWaitTimeSeconds",
                    "MaximumMessageSize",
                )
            }
            if attrs:
                sqs.set_queue_attributes(QueueUrl=r.refs[logical], Attributes=attrs)
        for logical, res in resources_of_type(self.template, "AWS::DynamoDB::Table").items():
            props = r.resolve(res["Properties"])
            name = f"{prefix}{logical}"
            ddb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=props["AttributeDefinitions"],
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        for logical, res in resources_of_type(self.template, "AWS::S3::Bucket").items():
            name = f"{prefix}{logical}".lower()
            s3.create_bucket(Bucket=name)
            if r.resolve(res.get("Properties", {})).get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"
        secrets_client = self.client("secretsmanager")
        for logical in resources_of_type(self.template, "AWS::SecretsManager::Secret"):
            # GenerateSecretString, as CloudFormation would: a random key made here
            arn = secrets_client.create_secret(Name=f"{prefix}{logical}", SecretString=secrets.token_hex(32))["ARN"]
            r.refs[logical] = arn
            r.attrs[(logical, "Arn")] = arn
        streams = resources_of_type(self.template, "AWS::KinesisFirehose::DeliveryStream")
        for logical in streams:  # named before the placeholders, so a function's !Ref resolves
            name = f"{prefix}{logical}"
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}"
        for logical in self.template.get("Resources", {}):
            if logical not in r.refs:  # functions, layers, log groups, APIs: a stable placeholder id
                r.refs[logical] = f"{prefix}{logical}"
                r.attrs[(logical, "Arn")] = f"arn:aws:local:{REGION}:{ACCOUNT}:{logical}"
        self._create_delivery_streams(streams)

    def _create_delivery_streams(self, streams: dict[str, Any]) -> None:
        """Firehose streams (direct PUT to S3) from the template. moto writes each PutRecordBatch
        at once as one object under the prefix's YYYY/MM/DD/HH/ (no buffering, no file extension)."""
        r = self.resolver
        assert r is not None
        firehose = self.client("firehose")
        for logical, res in streams.items():
            props = r.resolve(res["Properties"])
            s3 = props["ExtendedS3DestinationConfiguration"]
            firehose.create_delivery_stream(
                DeliveryStreamName=r.refs[logical],
                DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
                ExtendedS3DestinationConfiguration={
                    key: s3[key]
                    for key in (
                        "BucketARN",
                        "RoleARN",
                        "Prefix",
                        "ErrorOutputPrefix",
                        "BufferingHints",
                        "CompressionFormat",
                        "FileExtension",
                    )
                    if key in s3
                },
            )

    def seed(self) -> None:
        """The default policy, active, and the dev source (write key ``dev-write-key``, GA4
        measurement id ``G-DEV``, origins: the local stack's own)."""
        table = self.physical_id("PolicyTable")
        ddb = self.client("dynamodb")
        version = policy_ops.push_policy(
            ddb, table, policy_ops.load_policy_file(self.base_dir / "policies" / "default.yaml")
        )
        policy_ops.activate_policy(ddb, table, version)
        origins = sorted({self.app_origin, self.app_origin.replace("127.0.0.1", "localhost")})
        dev = Source(
            source_id=DEV_SOURCE_ID, name="Local development", origins=origins, measurement_ids=[DEV_MEASUREMENT_ID]
        )
        sources.add_source(ddb, table, dev, DEV_WRITE_KEY)

    def outputs(self) -> dict[str, str]:
        """The template's Outputs resolved against the local resources: the same names a deployed
        stack's outputs have, so operator commands find resources the same way in both."""
        assert self.resolver is not None
        return {
            name: str(self.resolver.resolve(spec["Value"]))
            for name, spec in self.template.get("Outputs", {}).items()
            if "ApiUrl" not in name and self.resolver.condition(spec.get("Condition"))
        }

    def physical_id(self, logical: str) -> str:
        assert self.resolver is not None
        return self.resolver.refs[logical]

    # -- functions ----------------------------------------------------------------------------
    def _globals(self) -> dict[str, Any]:
        assert self.resolver is not None
        out: dict[str, Any] = self.resolver.resolve(self.template.get("Globals", {}).get("Function", {}))
        return out

    def functions(self) -> dict[str, FunctionSpec]:
        r = self.resolver
        assert r is not None
        glob = self._globals()
        layer_dirs = {
            logical: (self.base_dir / res["Properties"]["ContentUri"]).resolve()
            for logical, res in resources_of_type(self.template, "AWS::Serverless::LayerVersion").items()
        }
        specs = {}
        for logical, res in resources_of_type(self.template, "AWS::Serverless::Function").items():
            props = r.resolve(res["Properties"])
            env = {
                **glob.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            layers = [*glob.get("Layers", []), *props.get("Layers", [])]
            dirs = tuple(
                layer_dirs[name.removeprefix("fairtrack-local-")]
                for name in layers
                if name.removeprefix("fairtrack-local-") in layer_dirs
            )
            env.update(self.loopback_env.get(logical, {}))  # loopback URLs the template's patterns refuse
            specs[logical] = FunctionSpec(
                logical_id=logical,
                code_dir=(self.base_dir / props["CodeUri"]).resolve(),
                handler=props.get("Handler", glob.get("Handler", "")),
                environment={k: str(v) for k, v in env.items()},
                timeout=float(props.get("Timeout", glob.get("Timeout", 3))),
                memory=int(props.get("MemorySize", glob.get("MemorySize", 128))),
                layer_dirs=dirs,
            )
        return specs

    def _events(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        r = self.resolver
        assert r is not None
        out = []
        for logical, res in resources_of_type(self.template, "AWS::Serverless::Function").items():
            for ev in res["Properties"].get("Events", {}).values():
                if ev.get("Type") == kind:
                    out.append((logical, r.resolve(ev.get("Properties", {}))))
        return out

    def sqs_sources(self) -> list[SqsSource]:
        r = self.resolver
        assert r is not None
        arn_to_url = {arn: r.refs[logical] for (logical, attr), arn in r.attrs.items() if attr == "Arn"}
        return [
            SqsSource(
                fn,
                arn_to_url[p["Queue"]],
                int(p.get("BatchSize", 10)),
                float(p.get("MaximumBatchingWindowInSeconds", 0)),
            )
            for fn, p in self._events("SQS")
        ]

    def http_routes(self) -> list[HttpRoute]:
        return [
            HttpRoute(
                p.get("Method", "ANY").upper(),
                p.get("Path", "/"),
                fn,
                iam_auth=(p.get("Auth") or {}).get("Authorizer") == "AWS_IAM",
            )
            for fn, p in self._events("HttpApi")
        ]

    # -- the lake -----------------------------------------------------------------------------
    def lake_records(self) -> list[Any]:
        s3, bucket = self.client("s3"), self.physical_id("LakeBucket")
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lake/"):
            objects.extend(page.get("Contents", []))
        records: list[Any] = []
        for obj in sorted(objects, key=lambda o: (o["LastModified"], o["Key"])):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for line in gzip.decompress(body).decode().splitlines():
                if line.strip():
                    records.append(json.loads(line))
        return records

    def clear_lake(self) -> None:
        s3, bucket = self.client("s3"), self.physical_id("LakeBucket")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Messages visible and in flight per queue, by logical id."""
        sqs = self.client("sqs")
        out = {}
        for logical in resources_of_type(self.template, "AWS::SQS::Queue"):
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.physical_id(logical),
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            out[logical] = {
                "visible": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            }
        return out

    def captured(self) -> dict[str, list[Any]]:
        return {**self.captures.snapshot(), "lake": self.lake_records()}

    def clear_captured(self) -> None:
        self.captures.clear()
        self.clear_lake()
