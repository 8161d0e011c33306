pytest_plugins = ["tests.fixtures_devstack"]
