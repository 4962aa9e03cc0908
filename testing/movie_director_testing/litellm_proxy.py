"""Start the real LiteLLM proxy, offline, with mock models, as a server process for tests.

The proxy comes from the `litellm` server environment (litellm[proxy] + prisma: without
prisma every auth failure is a 500 instead of a 401). Its models answer from
`mock_response`, so no request leaves the machine, and the environment below stops the
start-up fetches (cost map, beta headers, presets, blog posts, policy templates) that the
proxy otherwise makes to GitHub.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from movie_director_testing import envs
from movie_director_testing.processes import LOOPBACK, ServerProcess, http_ready

DEFAULT_MASTER_KEY = "sk-md-test-master"
STORY = (
    "The director framed the shot at dawn. Fog rolled over the café — the lights were warm, "
    "the street was still. Cut to black: ✓ scene one is done. Ça tourne, encore une fois!"
)
EMBEDDING = [0.125, -0.25, 0.5, 1.0]

# Each LITELLM_LOCAL_* makes the proxy read the copy bundled with litellm instead of fetching it
# from GitHub. LITELLM_MODE=PRODUCTION stops it loading a `.env` found above its install folder.
PROXY_ENV = {
    **{
        name: "True"
        for name in (
            "LITELLM_LOCAL_MODEL_COST_MAP",
            "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
            "LITELLM_LOCAL_AUTOROUTER_PRESETS",
            "LITELLM_LOCAL_BLOG_POSTS",
            "LITELLM_LOCAL_POLICY_TEMPLATES",
        )
    },
    "LITELLM_MODE": "PRODUCTION",
}


def _mock(model_name: str, model: str, mock_response: Any, mode: str = "chat") -> dict[str, Any]:
    return {
        "model_name": model_name,
        "litellm_params": {"model": model, "api_key": "dummy", "mock_response": mock_response},
        "model_info": {"mode": mode},
    }


def proxy_config(master_key: str, upstream_url: str | None = None) -> dict[str, Any]:
    """The proxy's config: mock models, plus `upstream-gpt` forwarding to an OpenAI-style URL if given."""
    models = [
        _mock("mock-gpt", "openai/gpt-4o-mini", "hello"),
        _mock("mock-story", "openai/gpt-4o-mini", STORY),
        _mock("mock-ratelimit", "openai/gpt-4o-mini", "litellm.RateLimitError"),
        _mock("mock-embed", "openai/text-embedding-3-small", EMBEDDING, mode="embedding"),
    ]
    if upstream_url:
        models.append({
            "model_name": "upstream-gpt",
            "litellm_params": {"model": "openai/up-model", "api_base": upstream_url, "api_key": "dummy-upstream"},
        })
    return {"model_list": models, "general_settings": {"master_key": master_key}}


def launch_litellm_proxy(
    port: int | None = None,
    master_key: str = DEFAULT_MASTER_KEY,
    upstream_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    start_timeout: float = 90.0,
) -> ServerProcess:
    """Build the `litellm` env if needed, start the proxy on `port` (free when None) and wait for it.

    `upstream_url` (e.g. "http://127.0.0.1:4010/v1") adds `upstream-gpt`; the proxy sends
    `GET {upstream_url}/models` at start-up. `extra_env` is added to (and wins over) PROXY_ENV.
    The config (JSON is YAML) lives in a temporary folder as long as the ServerProcess.

    The rest of the environment is inherited: with DATABASE_URL, DIRECT_URL or DATABASE_HOST
    set, the proxy would use that database and run Prisma's schema set-up (the Prisma CLI
    fetches its engines on first use). Without them, prisma is only imported for proper
    401s: no `prisma generate`, no download.
    """
    litellm = envs.ensure("litellm").parent / "litellm"
    workdir = Path(tempfile.mkdtemp(prefix="md-litellm-"))
    config = workdir / "config.yaml"
    config.write_text(json.dumps(proxy_config(master_key, upstream_url), ensure_ascii=False, indent=2), encoding="utf-8")
    server = ServerProcess(
        "litellm-proxy",
        [str(litellm), "--config", str(config), "--host", "{host}", "--port", "{port}"],
        port=port,
        host=LOOPBACK,
        env={**PROXY_ENV, **(extra_env or {})},
        cwd=str(workdir),  # the proxy CLI puts its working directory on sys.path
        ready=http_ready("/health/readiness"),
        start_timeout=start_timeout,
        private_dir=workdir,
    )
    return server.start()
