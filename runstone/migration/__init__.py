"""Moving from MLflow: ``runstone import-mlflow`` copies an MLflow store into runstone.

``sources`` reads a live MLflow server or its database, ``artifacts`` reads its artifact
store, ``importer`` writes runstone's objects (idempotently) and ``verify`` counts the result.
"""
