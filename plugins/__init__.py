"""rnnbench's built-in plugins, registered through the ``rnnbench`` entry-point
group exactly as a third-party package's plugins are (see pyproject.toml)."""
