"""The machine in one place: what Linux says about it (linux), what a result records (metadata), what would make
a measurement noisy (checks), how busy the CPUs were (activity) and which CPUs to measure on (cpus).

Standard library only, all of it: the worker imports this package before numpy or a runtime.
"""

from bench.machine.activity import (
    activity_warnings,
    busy_fractions,
    cpu_busy_fractions,
    machine_activity,
)
from bench.machine.checks import Check, CheckStatus, system_checks
from bench.machine.cpus import (
    CpuTopology,
    cpus_to_check,
    default_cpus,
    parse_cpus_option,
    read_topology,
    resolve_cpus,
    validate_cpus,
)
from bench.machine.linux import (
    THIS_MACHINE,
    UNAVAILABLE,
    CpuTimes,
    Kernel,
    format_cpu_list,
    parse_cpu_list,
    read_cpu_times,
)
from bench.machine.metadata import (
    FLAGS_OF_INTEREST,
    RUNTIME_DISTRIBUTIONS,
    collect_machine_metadata,
    effbench_version_info,
    machine_id,
    runtime_versions,
)

__all__ = [
    "FLAGS_OF_INTEREST",
    "RUNTIME_DISTRIBUTIONS",
    "THIS_MACHINE",
    "UNAVAILABLE",
    "Check",
    "CheckStatus",
    "CpuTimes",
    "CpuTopology",
    "Kernel",
    "activity_warnings",
    "busy_fractions",
    "collect_machine_metadata",
    "cpu_busy_fractions",
    "cpus_to_check",
    "default_cpus",
    "effbench_version_info",
    "format_cpu_list",
    "machine_activity",
    "machine_id",
    "parse_cpu_list",
    "parse_cpus_option",
    "read_cpu_times",
    "read_topology",
    "resolve_cpus",
    "runtime_versions",
    "system_checks",
    "validate_cpus",
]
