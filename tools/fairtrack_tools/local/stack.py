"""``fairtrack dev``: the whole of fairtrack on one machine, in the foreground.

moto as the embedded AWS (resources from template.yaml), the ingest API on 127.0.0.1:3000,
one poller per destination queue invoking its forwarder, capture servers standing in for the
destinations, ``/_dev/captured`` to see what each destination received, and the debug view
(``/_dev/``, :mod:`fairtrack_tools.local.debugview`): recent hits, anonymised, with their consent and
every field's decision per destination.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from fairtrack_tools.local import demo
from fairtrack_tools.local.apiserver import ApiServer
from fairtrack_tools.local.debugview import DebugView
from fairtrack_tools.local.localcloud import DEV_MEASUREMENT_ID, DEV_WRITE_KEY, LocalCloud
from fairtrack_tools.local.poller import SqsPoller
from fairtrack_tools.local.runtime import FunctionError, FunctionPool
from fairtrack_tools.local.template import REGION


class DevStack:
    def __init__(
        self,
        port: int = 3000,
        moto_port: int = 0,
        parameters: dict[str, str] | None = None,
        quiet: bool = False,
        debug_view: bool = True,
    ) -> None:
        self.port = port
        self.quiet = quiet
        self.cloud = LocalCloud(parameters=parameters, moto_port=moto_port, app_origin=f"http://127.0.0.1:{port}")
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[SqsPoller] = []
        self.stop_event = threading.Event()
        self.api: ApiServer | None = None
        self.debug_view = debug_view
        self.debug: DebugView | None = None

    def start(self) -> DevStack:
        # the API's socket first: with port 0 the dev source must allow the origin actually bound
        self.api = ApiServer([], self._invoke, self._dev, port=self.port)
        self.cloud.app_origin = self.api.base_url
        self.cloud.start()
        specs = self.cloud.functions()
        sqs_functions = {s.function for s in self.cloud.sqs_sources()}
        for logical, spec in specs.items():
            size = 1 if logical in sqs_functions else 2
            self.pools[logical] = FunctionPool(spec, self.cloud.aws_env, size=size, quiet=self.quiet)
        self.api.routes = self.cloud.http_routes()
        ingest = next((r.function for r in self.cloud.http_routes() if r.path.startswith("/v1/")), None)
        if self.debug_view and ingest is not None:
            try:
                self.debug = DebugView.for_cloud(self.cloud, ingest, specs[ingest].environment).start()
            except Exception as exc:  # noqa: BLE001 - a developer aid must not keep the stack from starting
                print(f"debug view disabled: {type(exc).__name__}", file=sys.stderr, flush=True)
        sqs = self.cloud.client("sqs")
        for source in self.cloud.sqs_sources():
            self.pollers.append(SqsPoller(source, self.pools[source.function], sqs, self.stop_event).start())
        return self

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        try:
            result = self.pools[function].invoke(event)
        except FunctionError:
            if self.debug is not None and function == self.debug.function:
                self.debug.observe(event, {"statusCode": 500})
            raise
        if self.debug is not None and function == self.debug.function:
            self.debug.observe(event, result)  # previewed later, on the view's own thread
        return result

    def _dev(self, method: str, request: dict[str, str]) -> tuple[int, Any]:
        shop = demo.handle(method, request["path"])
        if shop is not None:
            return shop
        if self.debug is not None:
            answer = self.debug.handle(method, request["path"], request.get("query", ""))
            if answer is not None:
                return answer
        if request["path"].rstrip("/") == "/_dev/captured":
            if method == "GET":
                return 200, self.cloud.captured()
            if method == "DELETE":
                self.cloud.clear_captured()
                return 200, {"cleared": True}
            return 405, {"message": "GET or DELETE"}
        if request["path"].rstrip("/") == "/_dev/queues" and method == "GET":
            return 200, self.cloud.queue_depths()
        if request["path"].rstrip("/") == "/_dev/aws" and method == "GET":
            # where the embedded AWS is, for operator commands run with --local (fairtrack source ...)
            return 200, {
                "endpoint_url": self.cloud.endpoint,
                "region": REGION,
                "policy_table": self.cloud.physical_id("PolicyTable"),
                "outputs": self.cloud.outputs(),
            }
        return 404, {"message": "Not Found"}

    def summary(self) -> str:
        assert self.api is not None
        c = self.cloud
        base = self.api.base_url
        lines = [
            "fairtrack local stack is running (Ctrl-C stops it)",
            f"  ingest API        {base}  (routes: {', '.join(r.route_key for r in c.http_routes())})",
            f"  try               curl -s {base}/v1/track -u {DEV_WRITE_KEY}: -H 'content-type: application/json' \\",
            "                      -d @events/examples/track.json",
            f"  captured          {base}/_dev/captured   (DELETE to clear); queue depths {base}/_dev/queues",
        ]
        lines.append(f"  demo site         {base}/_dev/demo/   (a shop with a consent banner and fairtrack.js)")
        if self.debug is not None:
            lines.append(
                f"  debug view        {base}/_dev/   (recent hits: anonymised, consent, each field's decision)"
            )
        lines += [
            f"  embedded AWS      {c.endpoint}  (moto; AWS_ENDPOINT_URL for boto3 and the aws CLI)",
            f"  policy table      {c.physical_id('PolicyTable')}  (policies/default.yaml active)",
            f"  lake bucket       {c.physical_id('LakeBucket')}",
            f"  dev source        write key '{DEV_WRITE_KEY}', gtag tid '{DEV_MEASUREMENT_ID}', origins {base}, "
            f"http://localhost:{self.port}",
            f"  destinations      capture server {c.capture_server.base_url if c.capture_server else '?'}",
        ]
        lines += [
            f"  poller            {s.function} <- {s.queue_url.rsplit('/', 1)[-1]} (batch {s.batch_size})"
            for s in c.sqs_sources()
        ]
        return "\n".join(lines)

    def serve_forever(self) -> None:
        assert self.api is not None
        print(self.summary(), flush=True)

        def _term(*_: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _term)
        signal.signal(signal.SIGINT, _term)  # also when started in the background, where SIGINT is ignored
        try:
            self.api.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            print("fairtrack local stack stopped", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self.stop_event.set()
        if self.debug is not None:
            self.debug.stop()
        if self.api is not None:
            self.api.stop()
        for p in self.pollers:
            p.thread.join(timeout=3)
        for pool in self.pools.values():
            pool.stop()
        self.cloud.stop()
