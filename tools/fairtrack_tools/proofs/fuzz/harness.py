"""The function under test: the real ingest handler loaded in process under moto, each answer
checked (:func:`problems`), SQS's own message rules applied to what it queues.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from fairtrack_tools.proofs.fuzz.values import CANARY, SQS_INVALID
from fairtrack_tools.proofs.fuzz.wire import FuzzRequest

# -- the function under test ---------------------------------------------------------------------------


class FakeContext:
    function_name = "fuzz"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fuzz"
    aws_request_id = "fuzz-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000  # the template's forwarder timeout: the forwarder's deadline stop reads it


@dataclass
class Outcome:
    response: Any
    raised: str | None  # traceback of an exception the handler let out
    unexpected: str | None  # traceback of an exception the handler's catch-all turned into a 500
    logs: str
    sqs_refused: int = 0  # messages real SQS would have refused (InvalidMessageContents)

    @property
    def status(self) -> int | None:
        if isinstance(self.response, dict) and isinstance(self.response.get("statusCode"), int):
            status: int = self.response["statusCode"]
            return status
        return None


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with an answer: an empty list when nothing is."""
    found: list[str] = []
    if outcome.raised:
        found.append(f"handler raised:\n{outcome.raised}")
    if outcome.unexpected:
        found.append(f"unhandled exception (answered 500):\n{outcome.unexpected}")
    response = outcome.response
    if outcome.raised is None:
        status = outcome.status
        if status is None:
            found.append(f"no integer statusCode in {response!r:.300}")
        elif status >= 500:
            why = " (real SQS refuses the message: InvalidMessageContents)" if outcome.sqs_refused else ""
            logged = sorted(set(re.findall(r'"error_types?":\s*\[?"(\w+)"', outcome.logs)))
            why += f" (logged error types: {', '.join(logged)})" if logged else ""
            found.append(f"status {status}{why}: {response.get('body')!r:.300}")
        body = response.get("body") if isinstance(response, dict) else None
        headers = (response.get("headers") or {}) if isinstance(response, dict) else {}
        script = str(headers.get("Content-Type", "")).startswith("text/javascript")  # GET /fairtrack.js
        if body and not script:
            try:
                json.loads(body)
            except (TypeError, ValueError):
                found.append(f"body is not JSON: {body!r:.300}")
        shown = json.dumps(response, default=str)
        if CANARY.search(shown):
            found.append(f"answer echoes a planted secret: {shown[:300]}")
    if CANARY.search(outcome.logs):
        line = next((ln for ln in outcome.logs.splitlines() if CANARY.search(ln)), "")
        found.append(f"logs hold a planted secret: {line[:300]}")
    return found


class SqsOracle:
    """Refuses what real SQS refuses and moto accepts: characters outside SQS's allowed set."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        from botocore.exceptions import ClientError as BotoClientError

        texts = [params.get("MessageBody", "")]
        texts += [a.get("StringValue", "") for a in (params.get("MessageAttributes") or {}).values()]
        if any(SQS_INVALID.search(t) for t in texts):
            self.refused += 1
            error: Any = {"Error": {"Code": "InvalidMessageContents", "Message": "Invalid binary character"}}
            raise BotoClientError(error, "SendMessage")


class Harness:
    """The ingest function loaded once, against moto, with the template's environment."""

    def __init__(self) -> None:
        self.module: ModuleType | None = None
        self.context = FakeContext()
        self.oracle = SqsOracle()
        self._saved_env: dict[str, str] = {}
        self._mock: Any = None
        self._cloud: Any = None
        self._unexpected: list[str] = []
        self._logs = io.StringIO()
        self._log_handler: Any = None
        self._log_stream: Any = None
        self.invocations = 0

    def start(self) -> Harness:
        self._saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
            }
        )
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(name, None)
        from aws_lambda_powertools.utilities import parameters
        from moto import mock_aws

        from fairtrack import settings
        from fairtrack_tools.local.localcloud import LocalCloud

        self._mock = mock_aws()
        self._mock.start()
        self._cloud = LocalCloud(embedded=False).start()
        spec = self._cloud.functions()["IngestFunction"]
        os.environ.update(spec.environment)
        settings.ingest_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        path = spec.code_dir / (spec.handler.rsplit(".", 1)[0] + ".py")
        module_spec = importlib.util.spec_from_file_location("_fuzzed_ingest_handler", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
        self.module = module
        # record the traceback of anything the catch-all handler turns into a 500
        catch_all = module.app.exception_handler_manager.lookup_exception_handler(Exception)
        assert catch_all is not None, "the ingest app has no catch-all error handler"

        def record(exc: Exception) -> Any:
            self._unexpected.append("".join(traceback.format_exception(exc)))
            return catch_all(exc)

        module.app.exception_handler(Exception)(record)
        module.ingestor.sender.client.meta.events.register("provide-client-params.sqs.SendMessage", self.oracle)
        # the function's log lines, kept per request to look for planted secrets
        from fairtrack.observability import logger

        self._log_handler = logger.registered_handler
        self._log_stream = self._log_handler.setStream(self._logs)
        return self

    def stop(self) -> None:
        from aws_lambda_powertools.utilities import parameters

        from fairtrack import settings

        if self._log_handler is not None:
            self._log_handler.setStream(self._log_stream)
        if self._cloud is not None:
            self._cloud.stop()
        if self._mock is not None:
            self._mock.stop()
        sys.modules.pop("_fuzzed_ingest_handler", None)
        if self._saved_env:
            os.environ.clear()
            os.environ.update(self._saved_env)
        settings.ingest_settings.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]

    def invoke(self, event: dict[str, Any], *, trusted_proxy: str = "none") -> Outcome:
        """Handle ``event`` as a deployment whose ``TrustedProxy`` is ``trusted_proxy`` would (under
        ``cloudfront``, past the origin-verify check, which the harness's handler does not install)."""
        assert self.module is not None
        ingestor = self.module.ingestor
        if ingestor.settings.trusted_proxy != trusted_proxy:
            ingestor.settings = ingestor.settings.model_copy(update={"trusted_proxy": trusted_proxy})
        self._unexpected.clear()
        refused = self.oracle.refused
        self._logs.seek(0)
        self._logs.truncate()
        printed = io.StringIO()  # the EMF metrics lines
        response: Any = None
        raised = None
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Powertools' "no application metrics" on refused requests
            try:
                response = self.module.handler(event, self.context)
            except Exception:  # noqa: BLE001 - the very thing looked for
                raised = traceback.format_exc()
        self.invocations += 1
        if self.invocations % 500 == 0:
            self.purge_queues()
        unexpected = "\n".join(self._unexpected) or None
        logs = self._logs.getvalue() + printed.getvalue()
        return Outcome(response, raised, unexpected, logs, self.oracle.refused - refused)

    def purge_queues(self) -> None:
        """Keeps moto's memory flat on long runs: nothing reads the queues."""
        sqs = self._cloud.client("sqs")
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.purge_queue(QueueUrl=url)

    def run(self, request: FuzzRequest) -> Outcome:
        return self.invoke(request.event, trusted_proxy=request.trusted_proxy)


@contextlib.contextmanager
def running() -> Iterator[Harness]:
    """A started :class:`Harness`, stopped (moto, environment, log stream restored) on the way out."""
    harness = Harness()
    try:
        yield harness.start()
    finally:
        harness.stop()
