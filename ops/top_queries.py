"""`just top-queries`: the statements that cost the database the most time, from
pg_stat_statements (the local cluster loads it; ops/cluster.py), heaviest first. The extension
is made in, and read from, the server's `postgres` database: its counts are the whole server's
(those of the application's database are shown), and the application's database gets nothing
(no role of it can read another's statements, and no backup carries it).

    just top-queries              the 15 heaviest by total time
    just top-queries --limit 5 --by mean
    just top-queries --reset      forget what was counted so far
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from blossom_db.connections import Connection
from deploy.migrate import with_database
from ops.settings import Settings, count_argument, recipe_parser
from ops.stack import database

ORDER = {"total": "total_exec_time", "mean": "mean_exec_time", "calls": "calls"}
# LIMIT takes a bigint: a larger --limit was Postgres's "bigint out of range", after the local
# cluster had been started for it.
LARGEST_LIMIT = 2**63 - 1
QUERY_WIDTH = 90


@contextmanager
def statistics(url: str) -> Iterator[tuple[psycopg.Connection, int]]:
    """A connection to the server's `postgres` database, where the extension is, and the oid of
    the database of `url`, whose statements are counted."""
    database = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with Connection.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements")
        row = conn.execute("select oid from pg_database where datname = %s", (database,)).fetchone()
        if row is None:
            raise SystemExit(f"top-queries: no database {database}")
        yield conn, int(row[0])


def top_queries(url: str, limit: int, by: str) -> list[tuple[int, float, float, int, float, str]]:
    """(calls, total ms, mean ms, rows, share of all time in %, query) of the heaviest statements."""
    with statistics(url) as (conn, database):
        rows = conn.execute(
            sql.SQL(
                "select calls, total_exec_time, mean_exec_time, rows,"
                " 100 * total_exec_time / nullif(sum(total_exec_time) over (), 0), query"
                " from pg_stat_statements where dbid = %s"
                " order by {} desc limit %s"
            ).format(sql.Identifier(ORDER[by])),
            (database, limit),
        ).fetchall()
    return [(int(c), float(t), float(m), int(r), float(s or 0), str(q)) for c, t, m, r, s, q in rows]


def table(rows: list[tuple[int, float, float, int, float, str]]) -> str:
    lines = [f"{'calls':>9} {'total ms':>11} {'mean ms':>9} {'rows':>9} {'share':>6}  query"]
    for calls, total, mean, count, share, query in rows:
        one_line = re.sub(r"\s+", " ", query).strip()
        if len(one_line) > QUERY_WIDTH:
            one_line = one_line[: QUERY_WIDTH - 1] + "…"
        lines.append(f"{calls:>9} {total:>11.1f} {mean:>9.2f} {count:>9} {share:>5.1f}%  {one_line}")
    return "\n".join(lines)


def main() -> None:
    parser = recipe_parser("just top-queries", __doc__)
    parser.add_argument(
        "--limit",
        type=count_argument("statements", at_most=LARGEST_LIMIT),
        default=15,
        help="at most this many statements (15)",
    )
    parser.add_argument(
        "--by",
        choices=sorted(ORDER),
        default="total",
        help="heaviest by total time (the default), mean time or calls",
    )
    parser.add_argument("--reset", action="store_true", help="forget the statistics so far")
    args = parser.parse_args()
    settings = Settings.from_env()
    url = settings.admin_url
    try:
        with database(settings):
            if args.reset:
                with statistics(url) as (conn, database_oid):
                    conn.execute("select pg_stat_statements_reset(0, %s, 0)", (database_oid,))
                print("top-queries: statistics reset")
                return
            print(table(top_queries(url, args.limit, args.by)))
    # ClusterError (a RuntimeError): the local cluster would not start.
    except RuntimeError as error:
        sys.exit(f"top-queries: {error}")
    except psycopg.Error as error:
        hint = ""
        if "shared_preload_libraries" in str(error):
            hint = " (the server must load it: `./dev up` starts the local cluster so; restart it)"
        sys.exit(f"top-queries: {str(error).strip().splitlines()[0]}{hint}")


if __name__ == "__main__":
    main()
