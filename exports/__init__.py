"""Exports: a project's labels and scores out, in the formats reward-model trainers read.

- `params`: the export parameters, one DRF serializer (API, page, command, OpenAPI schema);
- `labels`: the one definition of an item's label (winner, margin, agreement);
- `rows`: the SQL streams and the rows of each format, in one consistent snapshot;
- `writers`: JSON Lines, CSV and Parquet;
- `jobs`: Parquet files written in the background, claimed under a lease;
- `http`: the streamed and downloaded responses, built once for the page and the API.

Exports only read what the other apps wrote; the one table they own is `ExportJob`.
"""
