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


adapter = _Adapter()
dbt = _Dbt()
