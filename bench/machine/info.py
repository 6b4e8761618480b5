"""The machine facts a result document carries: collect_machine_metadata's open-ended dict, kept whole, with typed
accessors for the views and exports. Standard library only, like bench.document that nests it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.formats import DocumentError


@dataclass(frozen=True)
class MachineInfo:
    """bench.machine.collect_machine_metadata's open-ended dict (py-cpuinfo's fields vary by CPU), kept whole,
    with typed accessors for the facts views and exports use."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    @classmethod
    def from_dict(cls, data: Any, where: str = "machine") -> MachineInfo:
        if not isinstance(data, Mapping):
            raise DocumentError(f"{where} is not an object")
        return cls(dict(data))

    def _section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def id(self) -> str | None:
        return self.data.get("id") or None

    @property
    def hostname(self) -> str | None:
        return self.data.get("hostname")

    @property
    def cpu_brand(self) -> str | None:
        return self._section("cpu").get("brand")

    @property
    def cpu_flags(self) -> tuple[str, ...]:
        return tuple(self._section("cpu").get("flags") or ())

    @property
    def logical_cpus(self) -> int | None:
        return self._section("cores").get("logical")

    @property
    def python(self) -> dict[str, Any]:
        """{"version", "implementation", "executable"}."""
        return self._section("python")

    @property
    def load_avg_1min(self) -> float | None:
        return (self.data.get("load_avg") or [None])[0]

    @property
    def runtimes(self) -> dict[str, str | None]:
        """Runtime versions installed on the machine (not necessarily the ones a worker loaded)."""
        return self._section("runtimes")

    @property
    def pyperf(self) -> dict[str, Any]:
        """pyperf's own metadata of the machine, when it was collected."""
        return self._section("pyperf")

    @property
    def effbench(self) -> dict[str, Any]:
        """{"version", "git_commit", "git_dirty"} of the effbench that collected the metadata."""
        return self._section("effbench")

    def get(self, key: str) -> Any:
        """A top-level fact by its collect_machine_metadata key (platform, kernel, governor, boost, aslr…)."""
        return self.data.get(key)
