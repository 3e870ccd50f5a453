"""LaunchRouter: one interface, an adapter per Azure ML target, and a local runner."""
