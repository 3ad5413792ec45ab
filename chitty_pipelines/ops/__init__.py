"""Operations: the core ChittyOS services' registration and health, ChittyCheck, schedules.

``catalogue`` (the eight services, from core_services.yaml), ``tables`` (ops.service_*),
``registration``, ``health`` and ``check`` hold the logic; ``defs`` wires it into Dagster.
"""
