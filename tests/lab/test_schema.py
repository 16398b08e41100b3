"""The lab's tables are Defender's documented tables, column for column and type for type."""

from __future__ import annotations

import time

import duckdb_kql

from bot.defender.lab import create_tables, empty_schema_connection, load_schema
from bot.defender.lab.schema import load_functions


def test_the_packaged_schema_is_defenders_whole_schema():
    tables = load_schema()
    assert len(tables) == 65
    assert sum(len(t.columns) for t in tables.values()) == 1_612
    for name in ("DeviceRegistryEvents", "DeviceImageLoadEvents", "IdentityQueryEvents",
                 "IdentityDirectoryEvents", "DeviceTvmSoftwareVulnerabilities",
                 "DeviceFileCertificateInfo", "DeviceNetworkInfo"):
        assert name in tables
    assert {"FileProfile", "DeviceFromIP", "AssignedIPAddresses", "SeenBy"} <= set(
        load_functions()
    )


def test_the_packaged_schema_documents_the_hunting_tables():
    tables = load_schema()
    for name in ("EmailEvents", "EmailPostDeliveryEvents", "IdentityLogonEvents",
                 "DeviceProcessEvents", "DeviceFileEvents", "UrlClickEvents"):
        assert name in tables
    assert ("NetworkMessageId", "string") in tables["EmailEvents"].columns
    assert ("Timestamp", "datetime") in tables["EmailPostDeliveryEvents"].columns


def test_every_table_is_created_with_matching_duckdb_types():
    con = duckdb_kql.connect()
    create_tables(con)
    expected = {"datetime": "TIMESTAMP WITH TIME ZONE", "string": "VARCHAR", "long": "BIGINT",
                "int": "INTEGER", "bool": "BOOLEAN", "dynamic": "JSON", "real": "DOUBLE",
                "guid": "UUID"}
    for table in load_schema().values():
        described = con.execute(f'DESCRIBE "{table.name}"').fetchall()
        assert [(row[0], row[1]) for row in described] == [
            (name, expected[kind]) for name, kind in table.columns
        ]


def test_the_empty_schema_connection_is_cheap_and_empty():
    started = time.perf_counter()
    con = empty_schema_connection()
    assert time.perf_counter() - started < 1.0
    assert duckdb_kql.kql(con, "EmailEvents | count").fetchall() == [(0,)]


def test_dynamic_columns_take_member_access_as_in_defender():
    # Why dynamic is JSON: `AdditionalFields.Key` must work without a parse_json() Defender
    # does not need.
    con = empty_schema_connection()
    con.execute("""INSERT INTO IdentityLogonEvents (AccountUpn, AdditionalFields)
                   VALUES ('a@contoso.com', '{"Pass-through": false, "Count": 3}')""")
    rows = duckdb_kql.kql(
        con, "IdentityLogonEvents | project n = toint(AdditionalFields.Count)"
    ).fetchall()
    assert rows == [(3,)]
