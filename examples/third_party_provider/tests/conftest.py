pytest_plugins = ["speechkit_conformance.plugin"]
