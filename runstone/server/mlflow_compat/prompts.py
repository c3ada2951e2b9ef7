"""MLflow's prompt registry, refused before anything is written.

MLflow 3 stores a prompt as a registered model tagged ``mlflow.prompt.is_prompt`` whose versions
hold text instead of a model (source ``dummy-source``). runstone's registry holds models only, so
``mlflow.genai.register_prompt`` is refused when it creates the prompt, and a prompt version is
refused should a client send one to an existing model.
"""

from __future__ import annotations

from collections.abc import Mapping

from runstone.errors import InvalidInput

IS_PROMPT = "mlflow.prompt.is_prompt"
PROMPT_TEXT = "mlflow.prompt.text"
PLACEHOLDER_SOURCE = "dummy-source"
REFUSAL = (
    "runstone has no prompt registry: mlflow.genai.register_prompt, load_prompt and prompt aliases are not "
    "supported, and nothing was created. Keep prompt templates with the code, or log them to a run "
    "(mlflow.log_text) and register the model that uses them."
)


def refuse_prompt_model(tags: Mapping[str, str]) -> None:
    if str(tags.get(IS_PROMPT, "")).lower() == "true":
        raise InvalidInput(REFUSAL)


def refuse_prompt_version(source: str, tags: Mapping[str, str]) -> None:
    if source == PLACEHOLDER_SOURCE or PROMPT_TEXT in tags or IS_PROMPT in tags:
        raise InvalidInput(REFUSAL)
