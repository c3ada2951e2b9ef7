def test_default_experiment_exists(tracking):
    experiment = tracking.get_experiment("0")
    assert experiment.name == "Default"
