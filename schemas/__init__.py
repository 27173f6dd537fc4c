"""Canonical JSON Schemas: `schemas/<domain>/<entity>.v<N>.json`, samples in `schemas/<domain>/samples/`.

Each schema's `$id` is `https://schemas.crm-hub.dev/<domain>/<entity>.v<N>.json`; its short name
is `<domain>/<entity>.v<N>`. `asyncapi.yaml` documents exchanges, queues and messages.
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
ID_PREFIX = "https://schemas.crm-hub.dev/"
