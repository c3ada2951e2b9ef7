"""The array call for plain scikit-learn estimators: same answers as the package's predict, only
where it applies, and no scikit-learn warning on the way."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import runstone.models
import runstone.sklearn
from runstone.serving.app import ServingOptions, create_app
from runstone.serving.fastpath import array_predictor, quiet_feature_names
from runstone.serving.traffic import TrafficPolicy


def data(rows: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.RandomState(2)
    X = pd.DataFrame({"a": rng.rand(rows), "b": rng.rand(rows) * 10, "c": rng.randint(0, 5, rows).astype("int64")})
    return X, (X.a * 10 + X.b - X.c > 7).astype("int64")


def saved(tmp_path, estimator, X, name: str):
    path = tmp_path / name
    runstone.sklearn.save_model(estimator, path, input_example=X.head(3))
    return runstone.models.load_model(path), path


@pytest.mark.parametrize(
    ("make", "applies"),
    [
        (lambda: LogisticRegression(), True),
        (lambda: RandomForestClassifier(n_estimators=5, random_state=0), True),
        (lambda: make_pipeline(StandardScaler(), LogisticRegression()), False),
        (lambda: make_pipeline(ColumnTransformer([("s", StandardScaler(), ["a", "b"])]), LogisticRegression()), False),
    ],
    ids=["logistic", "forest", "pipeline", "column-transformer"],
)
def test_applies_to_plain_estimators_only_and_answers_the_same(tmp_path, make, applies):
    X, y = data()
    model, _ = saved(tmp_path, make().fit(X, y), X, "m")
    function = array_predictor(model)
    assert (function is not None) == applies
    if function is not None:
        with pytest.warns(UserWarning, match="feature names"):  # what the scoring process ignores
            function(X.head(1).to_numpy())
        quiet_feature_names()
        assert function(X.to_numpy()).tolist() == model.predict(X).tolist()


def test_not_for_text_columns_or_names_other_than_the_signature(tmp_path):
    from runstone.models import infer_signature

    X, y = data()
    estimator = LogisticRegression().fit(X, y)
    for name, columns in (("text", X.assign(label="x")), ("renamed", X.rename(columns={"a": "z"}))):
        runstone.sklearn.save_model(estimator, tmp_path / name, signature=infer_signature(columns))
        assert array_predictor(runstone.models.load_model(tmp_path / name)) is None, name


def test_concurrent_single_rows_through_blocks_match_the_model(tmp_path):
    X, y = data()
    X = X.astype("float64")  # one dtype: requests parse into one 2-D block
    model, path = saved(tmp_path, LogisticRegression().fit(X, y), X, "uniform")
    app = create_app(ServingOptions(traffic=TrafficPolicy.single(str(path)), batch_wait_ms=20))

    async def fire():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
            bodies = [{"dataframe_split": X.iloc[[i]].to_dict(orient="split")} for i in range(60)]
            return await asyncio.gather(*(client.post("/invocations", json=b) for b in bodies))

    answers = asyncio.run(fire())
    assert [a.json()["predictions"][0] for a in answers] == model.predict(X.head(60)).tolist()
