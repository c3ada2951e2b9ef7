"""Model serving: a scoring server (MLflow's protocol, faster, with canary, shadow, following the
registry, micro-batching, metrics and prediction logs), batch scoring of files, and Docker build
contexts.

    runstone models serve -m models:/fraud@champion --follow
    runstone models predict -m models:/fraud@champion -i data.parquet -o predictions.parquet
    runstone models build-docker -m models:/fraud/4 -o ./fraud-image

This package imports only model packaging (runstone.models), errors and settings, so that a
scoring image stays slim; the registry is reached through model URIs and the tracking client.
Spark scoring is ``runstone.spark.spark_udf``.
"""
