"""Typed app settings, read once per worker from the environment (Function App settings in Azure).

Operators: every setting is listed in ``local.settings.sample.json``. A missing or malformed value fails
the first request with a ConfigurationError naming the setting, rather than misbehaving later.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from amlexec.errors import ConfigurationError
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.validation import PREMIUM_TIER_MAX_MESSAGE, STANDARD_TIER_MAX_MESSAGE, Limits

__all__ = ["Settings", "get_settings", "load_linked_services"]


@dataclass(frozen=True)
class Settings:
    """What the app reads from its environment; build with :meth:`from_env`."""

    linked_services_file: Path | None = None
    linked_services_json: str | None = None
    default_linked_service: str | None = None
    data_factory_name: str = "amlexec"
    max_payload_bytes: int = STANDARD_TIER_MAX_MESSAGE
    local_runs_dir: Path = Path(".amlexec/runs")

    @property
    def limits(self) -> Limits:
        return Limits(max_payload_bytes=self.max_payload_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        raw_limit = source.get("AMLEXEC_MAX_PAYLOAD_BYTES", "").strip()
        limit = STANDARD_TIER_MAX_MESSAGE
        if raw_limit:
            if not raw_limit.isdigit() or not 1024 <= int(raw_limit) <= PREMIUM_TIER_MAX_MESSAGE:
                raise ConfigurationError(
                    f"AMLEXEC_MAX_PAYLOAD_BYTES must be a whole number from 1024 to {PREMIUM_TIER_MAX_MESSAGE}, "
                    f"got {raw_limit!r}"
                )
            limit = int(raw_limit)
        file = source.get("AMLEXEC_LINKED_SERVICES_FILE", "").strip()
        return cls(
            linked_services_file=Path(file) if file else None,
            linked_services_json=source.get("AMLEXEC_LINKED_SERVICES", "").strip() or None,
            default_linked_service=source.get("AMLEXEC_DEFAULT_LINKED_SERVICE", "").strip() or None,
            data_factory_name=source.get("AMLEXEC_DATA_FACTORY_NAME", "").strip() or "amlexec",
            max_payload_bytes=limit,
            local_runs_dir=Path(source.get("AMLEXEC_LOCAL_RUNS_DIR", "").strip() or ".amlexec/runs"),
        )


def load_linked_services(settings: Settings, env: Mapping[str, str] | None = None) -> LinkedServiceRegistry:
    """Build the registry from the settings' file and/or JSON setting (both may contribute)."""
    registry = LinkedServiceRegistry()
    if settings.linked_services_file is not None:
        registry = LinkedServiceRegistry.from_file(settings.linked_services_file, env=env)
    if settings.linked_services_json:
        extra = LinkedServiceRegistry.from_json(settings.linked_services_json, source="AMLEXEC_LINKED_SERVICES",
                                                env=env)
        for name in extra.names():
            service = extra.get(name)
            assert service is not None
            registry.add(service)
    return registry


@functools.cache
def get_settings() -> Settings:
    """The worker's settings, built on first use and reused."""
    return Settings.from_env()
