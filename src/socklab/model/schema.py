"""The lab file's JSON schema, generated from the pydantic model so it cannot drift."""

from __future__ import annotations

import json

from socklab.model.spec import LabSpec


def lab_schema_json() -> str:
    schema = LabSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "socklab lab file"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
