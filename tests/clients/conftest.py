from tests.fakes.anthropic_server import fake_anthropic  # noqa: F401
