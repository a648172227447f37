"""pytest setup for the builder tests: tf.test.TestCase's `test_session` helper is not a test."""


def pytest_collection_modifyitems(config, items):
    helpers = [item for item in items if item.name == "test_session"]
    if helpers:
        config.hook.pytest_deselected(items=helpers)
        items[:] = [item for item in items if item.name != "test_session"]
