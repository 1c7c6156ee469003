"""Lint-only stand-ins for the dbt context objects sqlfluff's jinja templater lacks.

sqlfluff (``templater = jinja``, ``apply_dbt_builtins = True``) provides ``ref``, ``source``,
``var``, ``config``, ``is_incremental`` and ``this``, but not ``adapter`` or the ``dbt``
macro namespace. Every public name in this package becomes a variable in the template
context (see ``library_path`` in .sqlfluff). Nothing here is used by dbt itself.
"""

from jinja2 import pass_context as _pass_context


class _Adapter:
    """``adapter.dispatch(name, namespace)`` resolves to the project's ``duckdb__<name>`` macro."""

    @staticmethod
    @_pass_context
    def dispatch(context, macro_name, macro_namespace=None):
        return context.resolve(f"duckdb__{macro_name}")


class _Dbt:
    """The few ``dbt.*`` cross-database macros the project calls, as dbt-duckdb renders them."""

    @staticmethod
    def dateadd(datepart, interval, from_date_or_timestamp):
        return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"

    @staticmethod
    def datediff(first_date, second_date, datepart):
        return f"(date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp))"

    @staticmethod
    def date_trunc(datepart, date):
        return f"date_trunc('{datepart}', {date})"

    @staticmethod
    def hash(field):
        return f"md5(cast({field} as varchar))"

    @staticmethod
    def type_string():
        return "varchar"

    @staticmethod
    def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
        return f"string_agg({measure}, {delimiter_text} {order_by_clause or ''})"


adapter = _Adapter()
dbt = _Dbt()


def _project_vars():
    """The vars in dbt_project.yml (flat `name: value` or `name: [a, b]` lines under `vars:`), so
    var() renders real values (sqlfluff's own stand-in returns an object that cannot be used as a
    number or iterated)."""
    import pathlib
    import re

    values, inside = {}, False
    for line in pathlib.Path("dbt_project.yml").read_text().splitlines():
        if re.match(r"^vars:\s*$", line):
            inside = True
        elif inside and re.match(r"^\S", line):
            break
        elif inside and (m := re.match(r"^\s+(\w+):\s*\[([^\]#]*)\]", line)):
            values[m.group(1)] = [item.strip() for item in m.group(2).split(",") if item.strip()]
        elif inside and (m := re.match(r"^\s+(\w+):\s*([^#\s]+)", line)):
            raw = m.group(2)
            values[m.group(1)] = int(raw) if raw.lstrip("-").isdigit() else (
                float(raw) if re.match(r"^-?\d+\.\d+$", raw) else raw)
    return values


_VARS = _project_vars()


def var(name, default=None):
    return _VARS.get(name, default)


# dbt's graph is empty while it parses, and models that read it guard with `if execute`.
execute = False
graph = {"nodes": {}, "sources": {}, "exposures": {}}


# When dbt started the run (dbt's own is a datetime too).
run_started_at = __import__("datetime").datetime(2026, 1, 1)
