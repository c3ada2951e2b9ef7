"""The scoring server's OpenAPI document, generated from the model's signature.

``POST /invocations`` is described with the payload forms the model accepts, each typed by the
signature's columns (or tensors) and params, so that client generators and API explorers know
what to send. Served at ``GET /openapi.json``.
"""

from __future__ import annotations

from typing import Any

from runstone.models.signature import ColSpec, ModelSignature, Schema, TensorSpec

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "float"},
    "double": {"type": "number", "format": "double"},
    "string": {"type": "string"},
    "binary": {"type": "string", "format": "byte"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _column_type(spec: ColSpec) -> dict[str, object]:
    if spec.raw is not None:
        return {}
    return dict(_JSON_TYPES.get(spec.type, {}))


def _tensor_type(spec: TensorSpec) -> dict[str, Any]:
    if spec.dtype.startswith(("int", "uint")):
        leaf: dict[str, object] = {"type": "integer"}
    elif spec.dtype.startswith("float"):
        leaf = {"type": "number"}
    elif spec.dtype == "bool":
        leaf = {"type": "boolean"}
    else:
        leaf = {"type": "string"}
    schema = leaf
    for _ in spec.shape or (-1,):
        schema = {"type": "array", "items": schema}
    return schema


def _table_forms(schema: Schema | None) -> dict[str, dict[str, Any]]:
    specs = [s for s in schema.specs if isinstance(s, ColSpec)] if schema is not None else []
    named = bool(specs) and schema is not None and schema.has_names
    properties = {s.name: _column_type(s) for s in specs if s.name is not None}
    required = [s.name for s in specs if s.name is not None and s.required]
    record: dict[str, object] = {"type": "object"}
    if named:
        record["properties"] = properties
        record["required"] = required
    row: dict[str, object] = {"type": "array", "items": {}}
    if specs:
        row["prefixItems"] = [_column_type(s) for s in specs]
    split: dict[str, object] = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}, **({"example": required} if named else {})},
            "data": {"type": "array", "items": row},
            "index": {"type": "array"},
        },
    }
    columns: dict[str, object] = {"type": "object"}
    if named:
        columns["properties"] = {k: {"type": "array", "items": v} for k, v in properties.items()}
    return {
        "dataframe_split": split,
        "dataframe_records": {"type": "array", "items": record},
        "instances": {"type": "array", "items": record if named else row},
        "inputs": {"anyOf": [columns, {"type": "array", "items": row}]},
    }


def _tensor_forms(schema: Schema) -> dict[str, dict[str, Any]]:
    specs = [s for s in schema.specs if isinstance(s, TensorSpec)]
    if schema.has_names:
        body: dict[str, Any] = {
            "type": "object",
            "properties": {s.name: _tensor_type(s) for s in specs if s.name is not None},
            "required": [s.name for s in specs if s.name is not None],
        }
        rows = {"type": "array", "items": {"type": "object"}}
    else:
        body = _tensor_type(specs[0])
        rows = body
    return {"inputs": body, "instances": rows}


def _params(signature: ModelSignature | None) -> dict[str, object]:
    if signature is None or signature.params is None:
        return {"type": "object", "description": "The model declares no params; any given are ignored."}
    properties = {}
    for spec in signature.params.specs:
        leaf = dict(_JSON_TYPES.get(spec.type, {}))
        if spec.default is not None:
            leaf["default"] = spec.default
        properties[spec.name] = {"type": "array", "items": leaf} if spec.shape is not None else leaf
    return {"type": "object", "properties": properties, "additionalProperties": False}


def document(signature: ModelSignature | None, *, title: str, version: str) -> dict[str, object]:
    inputs = signature.inputs if signature is not None else None
    forms = _tensor_forms(inputs) if inputs is not None and inputs.is_tensor else _table_forms(inputs)
    params = _params(signature)
    variants = [
        {
            "title": key,
            "type": "object",
            "required": [key],
            "properties": {key: value, "params": params},
            "additionalProperties": False,
        }
        for key, value in forms.items()
    ]
    error = {
        "type": "object",
        "properties": {
            "error_code": {"type": "string"},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
        },
    }
    text = {"text/plain": {"schema": {"type": "string"}}}
    ok = {"description": "OK"}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {
            "/invocations": {
                "post": {
                    "summary": "Score rows with the model",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"oneOf": variants}},
                            "text/csv": {"schema": {"type": "string", "description": "A table with a header line."}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Predictions; X-Runstone-Model-Version names the version that answered.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "properties": {"predictions": {}}},
                                }
                            },
                        },
                        "400": {
                            "description": "Input of the wrong shape or not matching the signature.",
                            "content": {"application/json": {"schema": error}},
                        },
                        "415": {"description": "Not JSON or CSV.", "content": text},
                        "500": {
                            "description": "The model failed; the request id is in the server's log.",
                            "content": {"application/json": {"schema": error}},
                        },
                    },
                }
            },
            "/ping": {"get": {"summary": "200 when the model is loaded", "responses": {"200": ok}}},
            "/health": {"get": {"summary": "200 when the model is loaded", "responses": {"200": ok}}},
            "/version": {"get": {"summary": "runstone's version", "responses": {"200": ok}}},
            "/metadata": {
                "get": {"summary": "The live model(s): URI, version, run, signature", "responses": {"200": ok}}
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": ok}}},
        },
    }
